//! The framing of every request-response protocol: one length-prefixed frame each way.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes. The length is checked
//! against the protocol's cap *before* anything is allocated, so a peer cannot make a node
//! reserve more than the cap by announcing a huge frame. An over-long response fails the
//! stream with [`std::io::ErrorKind::InvalidData`]; an over-long or truncated request is read
//! as the empty request (libp2p does not report failed reads of requests): either way the
//! swarm counts it against the peer.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;

/// Caps on one protocol's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Most bytes in a request.
    pub request: usize,
    /// Most bytes in a response.
    pub response: usize,
}

/// A request-response codec carrying raw bytes in one capped frame each way.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    limits: FrameLimits,
}

impl FrameCodec {
    /// A codec refusing frames over `limits`.
    pub fn new(limits: FrameLimits) -> FrameCodec {
        FrameCodec { limits }
    }
}

/// Reads one frame of at most `cap` bytes.
pub async fn read_frame<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    cap: usize,
) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is over the cap of {cap}"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Writes one frame, refusing to send more than `cap` bytes (the peer would refuse it).
pub async fn write_frame<T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    bytes: &[u8],
    cap: usize,
) -> io::Result<()> {
    if bytes.len() > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("frame of {} bytes is over the cap of {cap}", bytes.len()),
        ));
    }
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over 4 GiB"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.flush().await?;
    io.close().await
}

#[async_trait::async_trait]
impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        // libp2p-request-response does not report a request that fails to read, so an
        // over-long or truncated one becomes the empty request, which no protocol sends: the
        // swarm counts it against the peer and drops the stream.
        Ok(read_frame(io, self.limits.request)
            .await
            .unwrap_or_default())
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.limits.response).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req, self.limits.request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res, self.limits.response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn a_frame_round_trips() {
        let mut buf = Vec::new();
        block_on(write_frame(
            &mut futures::io::Cursor::new(&mut buf),
            b"hello",
            16,
        ))
        .unwrap();
        assert_eq!(&buf[..4], &[0, 0, 0, 5]);
        let got = block_on(read_frame(&mut futures::io::Cursor::new(&buf), 16)).unwrap();
        assert_eq!(got, b"hello");
    }

    #[test]
    fn an_announced_length_over_the_cap_is_refused_before_reading() {
        let buf = [0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        let err = block_on(read_frame(&mut futures::io::Cursor::new(&buf[..]), 1024)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("over the cap"), "{err}");
    }

    #[test]
    fn a_truncated_frame_is_an_error() {
        let buf = [0, 0, 0, 9, 1, 2];
        let err = block_on(read_frame(&mut futures::io::Cursor::new(&buf[..]), 1024)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn the_writer_refuses_what_the_reader_would() {
        let mut buf = Vec::new();
        let err = block_on(write_frame(
            &mut futures::io::Cursor::new(&mut buf),
            &[0; 17],
            16,
        ))
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(buf.is_empty());
    }
}
