//! Wire format: length-delimited frames, each one postcard-encoded [`Message`].

use bytes::Bytes;
use tokio_util::codec::LengthDelimitedCodec;

use crate::error::Error;
use crate::protocol::message::Message;

/// The largest frame accepted (a full state snapshot must fit).
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// The codec of every connection.
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().max_frame_length(MAX_FRAME).new_codec()
}

/// Encodes one message as a frame body.
pub fn encode(msg: &Message) -> Bytes {
    Bytes::from(postcard::to_stdvec(msg).expect("messages always serialize"))
}

/// Decodes a frame body.
pub fn decode(body: &[u8]) -> Result<Message, Error> {
    postcard::from_bytes(body).map_err(|e| Error::Frame(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::message::PeerMsg;

    #[test]
    fn messages_round_trip_and_garbage_is_an_error() {
        let msg = Message::Peer { from: 3, msg: PeerMsg::DeclareMaster { idx: 3 } };
        assert_eq!(decode(&encode(&msg)).unwrap(), msg);
        let err = decode(&[0xff, 0xff, 0xff]).unwrap_err();
        assert!(err.to_string().starts_with("frame is not a message"), "{err}");
    }
}
