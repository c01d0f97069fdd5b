//! nf_tables over nfnetlink: only what publishing a port needs, adding and
//! deleting elements of a map in a table that `nft -f` made. The nft binary
//! fetches its whole rule cache for each element (~8 ms to add, ~20 ms to
//! delete one here); this is one batch and one ACK.

use super::{Msg, Netlink, NLA_F_NESTED, NLM_F_ACK, NLM_F_CREATE};
use std::io;

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;

/// One map element: key and, when adding, the data, both in nft's register
/// layout (each field of a concatenation padded to 4 bytes).
pub struct SetElem {
    pub key: Vec<u8>,
    pub data: Option<Vec<u8>>,
}

impl Msg {
    /// struct nfgenmsg.
    fn nfgen(&mut self, family: u8, res_id: u16) -> &mut Self {
        self.buf.push(family);
        self.buf.push(0); // NFNETLINK_V0
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        self
    }
}

impl Netlink {
    pub fn open_netfilter() -> io::Result<Netlink> {
        Netlink::open_protocol(libc::NETLINK_NETFILTER)
    }

    /// Adds (or, with `delete`, removes) elements of maps of the ip (or,
    /// with `v6`, ip6) table `table`, given as (map, elements): all or
    /// none, in one nf_tables transaction.
    pub fn map_elements(
        &self,
        table: &str,
        v6: bool,
        maps: &[(&str, Vec<SetElem>)],
        delete: bool,
    ) -> io::Result<()> {
        // The batch's messages are numbered first..=last: begin, one per map, end.
        let first = self.next_seqs(maps.len() as u32 + 2);
        let last = first.wrapping_add(maps.len() as u32 + 1);
        let mut begin = Msg::with_seq(NFNL_MSG_BATCH_BEGIN, 0, first);
        begin.nfgen(0, NFNL_SUBSYS_NFTABLES);
        let mut batch = begin.finish().to_vec();
        let mut seq = first.wrapping_add(1);
        for (i, (set, elems)) in maps.iter().enumerate() {
            // Only the last message asks for an ACK: an error of any message
            // comes back before it, so the first error or ACK read is the
            // outcome of the whole transaction.
            let ack = if i + 1 == maps.len() { NLM_F_ACK } else { 0 };
            let (ty, flags) = if delete {
                (NFT_MSG_DELSETELEM, ack)
            } else {
                (NFT_MSG_NEWSETELEM, ack | NLM_F_CREATE)
            };
            let mut m = Msg::with_seq((NFNL_SUBSYS_NFTABLES << 8) | ty, flags, seq);
            seq = seq.wrapping_add(1);
            m.nfgen(if v6 { NFPROTO_IPV6 } else { NFPROTO_IPV4 }, 0)
                .attr_str(NFTA_SET_ELEM_LIST_TABLE, table)
                .attr_str(NFTA_SET_ELEM_LIST_SET, set)
                .begin(NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED);
            for e in elems {
                m.begin(NFTA_LIST_ELEM | NLA_F_NESTED)
                    .begin(NFTA_SET_ELEM_KEY | NLA_F_NESTED)
                    .attr(NFTA_DATA_VALUE, &e.key)
                    .end();
                if let Some(d) = &e.data {
                    m.begin(NFTA_SET_ELEM_DATA | NLA_F_NESTED)
                        .attr(NFTA_DATA_VALUE, d)
                        .end();
                }
                m.end();
            }
            m.end();
            batch.extend_from_slice(m.finish());
        }
        let mut end = Msg::with_seq(NFNL_MSG_BATCH_END, 0, seq);
        end.nfgen(0, NFNL_SUBSYS_NFTABLES);
        batch.extend_from_slice(end.finish());
        self.send_and_wait(&batch, first..=last).map(drop)
    }
}
