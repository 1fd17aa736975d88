//! The nfnetlink_queue messages the delayer sends and reads, as bytes (no I/O here): binding a
//! queue and configuring it, a verdict on one packet, and the packets, acknowledgements and
//! errors the kernel sends back.
//!
//! A netlink message is a `nlmsghdr` (length, type, flags, sequence, port; host byte order), an
//! `nfgenmsg` (family, version, the queue number in network byte order) and attributes (length,
//! type, payload padded to 4 bytes), whose integers are in network byte order.

/// `NFNL_SUBSYS_QUEUE`, the high byte of every queue message's type.
const SUBSYS_QUEUE: u16 = 3;
const MSG_PACKET: u16 = 0;
const MSG_VERDICT: u16 = 1;
const MSG_CONFIG: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_ERROR: u16 = 2;
const HEADER: usize = 16;
const NFGEN: usize = 4;

const CFG_CMD: u16 = 1;
const CFG_PARAMS: u16 = 2;
const CFG_QUEUE_MAXLEN: u16 = 3;
const CFG_MASK: u16 = 4;
const CFG_FLAGS: u16 = 5;
const CMD_BIND: u8 = 1;
/// `NFQA_CFG_F_FAIL_OPEN`: a packet the queue has no room for is accepted, not dropped.
const FLAG_FAIL_OPEN: u32 = 1;

const ATTR_PACKET_HDR: u16 = 1;
const ATTR_VERDICT_HDR: u16 = 2;
const ATTR_PAYLOAD: u16 = 10;
/// Attribute type bits that are flags, not the type.
const ATTR_TYPE_MASK: u16 = 0x3fff;

/// The verdict that lets a packet go on (`NF_ACCEPT`).
pub const ACCEPT: u32 = 1;

/// How much of each packet the kernel copies to us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Copy {
    /// Its metadata (its id) only.
    Meta,
    /// Its bytes, up to this many.
    Packet(u16),
}

fn message(kind: u16, ack: bool, seq: u32, queue: u16, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut buf = vec![0; HEADER];
    buf[4..6].copy_from_slice(&(SUBSYS_QUEUE << 8 | kind).to_ne_bytes());
    let flags = NLM_F_REQUEST | if ack { NLM_F_ACK } else { 0 };
    buf[6..8].copy_from_slice(&flags.to_ne_bytes());
    buf[8..12].copy_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&queue.to_be_bytes());
    for (kind, payload) in attrs {
        buf.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(payload);
        buf.resize(buf.len().next_multiple_of(4), 0);
    }
    let len = buf.len() as u32;
    buf[0..4].copy_from_slice(&len.to_ne_bytes());
    buf
}

/// Binds `queue` to this socket (acknowledged).
pub fn bind(queue: u16, seq: u32) -> Vec<u8> {
    message(MSG_CONFIG, true, seq, queue, &[(CFG_CMD, &[CMD_BIND, 0, 0, 0])])
}

/// Sets how much of each packet of `queue` is copied (acknowledged).
pub fn copy(queue: u16, copy: Copy, seq: u32) -> Vec<u8> {
    let (range, mode) = match copy {
        Copy::Meta => (0u32, 1u8),
        Copy::Packet(n) => (n.into(), 2u8),
    };
    let mut params = range.to_be_bytes().to_vec();
    params.push(mode);
    message(MSG_CONFIG, true, seq, queue, &[(CFG_PARAMS, &params)])
}

/// Sets how many packets `queue` holds at most, and makes it accept those it has no room for
/// (acknowledged).
pub fn limits(queue: u16, max_len: u32, seq: u32) -> Vec<u8> {
    let (len, flags) = (max_len.to_be_bytes(), FLAG_FAIL_OPEN.to_be_bytes());
    message(
        MSG_CONFIG,
        true,
        seq,
        queue,
        &[(CFG_QUEUE_MAXLEN, &len), (CFG_FLAGS, &flags), (CFG_MASK, &flags)],
    )
}

/// The verdict `verdict` on packet `id` of `queue` (not acknowledged).
pub fn verdict(queue: u16, id: u32, verdict: u32) -> Vec<u8> {
    let mut hdr = verdict.to_be_bytes().to_vec();
    hdr.extend_from_slice(&id.to_be_bytes());
    message(MSG_VERDICT, false, 0, queue, &[(ATTR_VERDICT_HDR, &hdr)])
}

/// A message from the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A queued packet: its id, and its bytes when they were copied.
    Packet {
        /// The id its verdict names.
        id: u32,
        /// Its bytes (IPv4 or IPv6 header first), when copied.
        payload: Option<Vec<u8>>,
    },
    /// The answer to request `seq`: 0 when it succeeded, else a negative errno.
    Ack {
        /// The request's sequence number.
        seq: u32,
        /// 0, or a negative errno.
        error: i32,
    },
}

fn u16_ne(b: &[u8]) -> u16 {
    u16::from_ne_bytes([b[0], b[1]])
}

fn u32_ne(b: &[u8]) -> u32 {
    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

/// The messages in the bytes of one `recv`; anything not understood (another kind of
/// message, a truncated one) is skipped.
pub fn parse(mut buf: &[u8]) -> Vec<Received> {
    let mut out = Vec::new();
    while buf.len() >= HEADER {
        let len = u32_ne(&buf[0..4]) as usize;
        if len < HEADER || len > buf.len() {
            break;
        }
        let (kind, seq) = (u16_ne(&buf[4..6]), u32_ne(&buf[8..12]));
        let body = &buf[HEADER..len];
        if kind == NLMSG_ERROR && body.len() >= 4 {
            out.push(Received::Ack { seq, error: i32::from_ne_bytes([body[0], body[1], body[2], body[3]]) });
        } else if kind == SUBSYS_QUEUE << 8 | MSG_PACKET && body.len() >= NFGEN {
            let (mut id, mut payload) = (None, None);
            let mut attrs = &body[NFGEN..];
            while attrs.len() >= 4 {
                let alen = u16_ne(&attrs[0..2]) as usize;
                if alen < 4 || alen > attrs.len() {
                    break;
                }
                let value = &attrs[4..alen];
                match u16_ne(&attrs[2..4]) & ATTR_TYPE_MASK {
                    ATTR_PACKET_HDR if value.len() >= 4 => {
                        id = Some(u32::from_be_bytes([value[0], value[1], value[2], value[3]]));
                    }
                    ATTR_PAYLOAD => payload = Some(value.to_vec()),
                    _ => {}
                }
                attrs = &attrs[alen.next_multiple_of(4).min(attrs.len())..];
            }
            if let Some(id) = id {
                out.push(Received::Packet { id, payload });
            }
        }
        buf = &buf[len.next_multiple_of(4).min(buf.len())..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet message as the kernel sends it: the packet header, a mark, the payload.
    fn packet_message(id: u32, payload: &[u8]) -> Vec<u8> {
        let mut hdr = id.to_be_bytes().to_vec();
        hdr.extend_from_slice(&[0x08, 0x00, 3]);
        let mark = 7u32.to_be_bytes();
        let mut m = message(
            MSG_PACKET,
            false,
            0,
            5301,
            &[(ATTR_PACKET_HDR, &hdr), (3, &mark), (ATTR_PAYLOAD, payload)],
        );
        m[6..8].copy_from_slice(&0u16.to_ne_bytes());
        m
    }

    #[test]
    fn requests_have_the_kernels_layout() {
        let m = bind(5301, 9);
        assert_eq!(m.len(), 16 + 4 + 8, "header, nfgenmsg, one padded attribute");
        assert_eq!(u32_ne(&m[0..4]) as usize, m.len());
        assert_eq!(u16_ne(&m[4..6]), 0x0302, "queue subsystem, config");
        assert_eq!(u16_ne(&m[6..8]), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(u32_ne(&m[8..12]), 9);
        assert_eq!(&m[18..20], &5301u16.to_be_bytes(), "the queue in network order");
        assert_eq!(&m[20..28], &[8, 0, 1, 0, CMD_BIND, 0, 0, 0]);
        let c = copy(1, Copy::Packet(0xffff), 2);
        assert_eq!(&c[20..24], &[9, 0, 2, 0], "a 5-byte attribute, padded to 8");
        assert_eq!(&c[24..29], &[0, 0, 0xff, 0xff, 2]);
        let v = verdict(1, 0x01020304, ACCEPT);
        assert_eq!(u16_ne(&v[6..8]), NLM_F_REQUEST, "verdicts are not acknowledged");
        assert_eq!(&v[24..32], &[0, 0, 0, 1, 1, 2, 3, 4]);
        assert_eq!(limits(1, 10, 3).len(), 16 + 4 + 3 * 8);
    }

    #[test]
    fn packets_and_acks_parse_and_junk_is_skipped() {
        let mut buf = packet_message(42, &[0x45, 0, 0, 20, 1]);
        buf.extend(packet_message(43, &[0x45]));
        let mut ack = vec![0; 16 + 4 + 16];
        let len = ack.len() as u32;
        ack[0..4].copy_from_slice(&len.to_ne_bytes());
        ack[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        ack[8..12].copy_from_slice(&5u32.to_ne_bytes());
        ack[16..20].copy_from_slice(&(-16i32).to_ne_bytes());
        buf.extend(&ack);
        buf.extend([1, 2, 3]);
        assert_eq!(
            parse(&buf),
            vec![
                Received::Packet { id: 42, payload: Some(vec![0x45, 0, 0, 20, 1]) },
                Received::Packet { id: 43, payload: Some(vec![0x45]) },
                Received::Ack { seq: 5, error: -16 },
            ]
        );
        let mut truncated = packet_message(1, &[0; 40]);
        truncated.truncate(30);
        assert_eq!(parse(&truncated), vec![]);
    }
}
