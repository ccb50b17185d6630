//! The toy plugin: check, task, score, reward.

use ganglion_plugin_abi::{ABI_VERSION, payload};

use super::toy;

#[test]
fn reports_what_it_is() {
    let plugin = toy();
    let info = plugin.info();
    assert_eq!(info.abi_version, ABI_VERSION);
    assert!(info.has_reward);
    assert_eq!(info.imports, vec!["ganglion::sin".to_owned()]);
    for name in ["memory", "abi_version", "alloc", "task", "score", "reward"] {
        assert!(info.exports.iter().any(|e| e == name), "{name}");
    }
}

#[test]
fn task_score_and_reward() {
    let plugin = toy();
    let task = plugin.task(1234, 3).unwrap();
    let public = payload::decode(&task.public).unwrap();
    let private = payload::decode(&task.private).unwrap();
    assert_eq!(public[0].dims(), &[4]);
    let clean = private[0].to_f64s();
    for (k, v) in clean.iter().enumerate() {
        let expected = libm_sin(1.234 + k as f64) as f32;
        assert_eq!(*v as f32, expected, "clean value {k}");
    }
    assert_eq!(
        plugin
            .score(&task.public, &task.private, &task.private)
            .unwrap(),
        1.0
    );
    let noisy = plugin
        .score(&task.public, &task.private, &task.public)
        .unwrap();
    assert!(noisy > 0.0 && noisy < 1.0, "{noisy}");
    // A malformed response scores 0 (the plugin's rule), and is not an error.
    assert_eq!(
        plugin.score(&task.public, &task.private, b"junk").unwrap(),
        0.0
    );
    assert_eq!(plugin.reward(&[1, 2, 65535]).unwrap(), vec![1, 2, 65535]);
}

fn libm_sin(x: f64) -> f64 {
    x.sin()
}

/// The first `wat` block of `docs/plugin-abi.md` is the toy plugin, and it loads.
#[test]
fn the_docs_example_is_the_toy_plugin() {
    let doc = include_str!("../../../docs/plugin-abi.md");
    let start = doc.find("```wat\n").expect("a wat block") + "```wat\n".len();
    let end = start + doc[start..].find("```").unwrap();
    assert_eq!(&doc[start..end], ganglion_plugins::examples::TOY_WAT);
}
