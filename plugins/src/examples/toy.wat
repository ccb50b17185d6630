;; A complete ganglion plugin (ABI version 1): a toy denoising task.
;; The task is four values of a sine wave; miners see them with noise added, and a response
;; scores 1 / (1 + mean squared error) against the clean values.
(module
  ;; Host math (deterministic, pure-software libm): the only imports a plugin may have.
  (import "ganglion" "sin" (func $sin (param f64) (result f64)))

  ;; Page 0 holds the task output; the heap for host inputs starts at page 1.
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))

  ;; Task output at 1024: u32 public length (26), the public payload, the private payload.
  ;; Each payload is one f32[4] tensor: count 1, dtype 0 (f32), rank 1, dim 4, 16 data bytes.
  (data (i32.const 1024) "\1a\00\00\00")
  (data (i32.const 1028) "\01\00\00\00\00\01\04\00\00\00")
  (data (i32.const 1054) "\01\00\00\00\00\01\04\00\00\00")

  (func (export "abi_version") (result i32)
    (i32.const 1))

  ;; A bump allocator: the host writes its inputs here. Every call gets a fresh instance, so
  ;; nothing needs freeing.
  (func (export "alloc") (param $len i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $len)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (drop (memory.grow
          (i32.add
            (i32.shr_u
              (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
              (i32.const 16))
            (i32.const 1))))))
    (local.get $ptr))

  ;; task(seed, round) -> (pointer << 32) | length
  (func (export "task") (param $seed i64) (param $round i64) (result i64)
    (local $k i32) (local $clean f64) (local $noise f64)
    (loop $each
      (local.set $clean
        (call $sin
          (f64.add
            (f64.mul (f64.convert_i64_u (local.get $seed)) (f64.const 0.001))
            (f64.convert_i32_u (local.get $k)))))
      (local.set $noise
        (f64.mul
          (f64.convert_i64_s
            (i64.sub
              (i64.rem_u
                (i64.add
                  (i64.mul (local.get $round) (i64.const 31))
                  (i64.extend_i32_u (i32.mul (local.get $k) (i32.const 17))))
                (i64.const 7))
              (i64.const 3)))
          (f64.const 0.05)))
      (f32.store (i32.add (i32.const 1038) (i32.shl (local.get $k) (i32.const 2)))
        (f32.demote_f64 (f64.add (local.get $clean) (local.get $noise))))
      (f32.store (i32.add (i32.const 1064) (i32.shl (local.get $k) (i32.const 2)))
        (f32.demote_f64 (local.get $clean)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $k) (i32.const 4))))
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 56)))

  ;; score(public, private, response) -> f64 in [0, 1]; anything but an f32[4] scores 0.
  (func (export "score")
    (param $pub i32) (param $pub_len i32) (param $priv i32) (param $priv_len i32)
    (param $resp i32) (param $resp_len i32) (result f64)
    (local $k i32) (local $err f64) (local $d f64)
    (if (i32.ne (local.get $resp_len) (i32.const 26))
      (then (return (f64.const 0))))
    (if (i64.ne (i64.load (local.get $resp)) (i64.load (local.get $priv)))
      (then (return (f64.const 0))))
    (if (i32.ne (i32.load16_u offset=8 (local.get $resp)) (i32.load16_u offset=8 (local.get $priv)))
      (then (return (f64.const 0))))
    (loop $each
      (local.set $d
        (f64.sub
          (f64.promote_f32
            (f32.load offset=10 (i32.add (local.get $resp) (i32.shl (local.get $k) (i32.const 2)))))
          (f64.promote_f32
            (f32.load offset=10 (i32.add (local.get $priv) (i32.shl (local.get $k) (i32.const 2)))))))
      (local.set $err (f64.add (local.get $err) (f64.mul (local.get $d) (local.get $d))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $k) (i32.const 4))))
    ;; A NaN in the response makes the error NaN: score it 0.
    (if (f64.ne (local.get $err) (local.get $err))
      (then (return (f64.const 0))))
    (f64.div (f64.const 1) (f64.add (f64.const 1) (f64.div (local.get $err) (f64.const 4)))))

  ;; reward(incentive) -> incentive: optional; this one keeps the chain's incentive as is.
  (func (export "reward") (param $ptr i32) (param $len i32) (result i64)
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
      (i64.extend_i32_u (local.get $len)))))
