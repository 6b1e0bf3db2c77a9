#!/usr/bin/env python3
"""Writes the seed corpora of the virtio fuzz targets (tests/fuzz/corpus/
{virtqueue,virtio_mmio,virtio_blk,virtio_net,virtio_net_ctrl}/): a few valid inputs in each
target's decision encoding, so that the fuzzer starts from chains, init
sequences and requests that work.  Run from anywhere; rewrites the files."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
u8 = lambda v: struct.pack("<B", v)
u16 = lambda v: struct.pack("<H", v)
u32 = lambda v: struct.pack("<I", v)
u64 = lambda v: struct.pack("<Q", v)
NEXT, WRITE, INDIRECT = 1, 2, 4


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_virtqueue: enable(shape, size log2, indirect, event_idx), then ops ----
def vq_desc(addr, length, flags, nxt):
    return u8(0) + u16(addr) + u8(0) + u8(length) + u8(flags) + u8(nxt)


def vq_main_desc(i, *d):
    return u8(0) + u8(i) + vq_desc(*d)


def vq_table_desc(slot, j, *d):
    return u8(2) + u8(slot) + u8(j) + vq_desc(*d)


VQ_ENABLE = u8(0) + u8(4) + u8(1) + u8(0)  # size 16, INDIRECT_DESC
VQ_POP, VQ_FLUSH = u8(6), u8(9)
vq_post = lambda head: u8(3) + u8(head)
vq_push = lambda i, n: u8(8) + u8(i) + u32(n)

write("virtqueue", "valid-chain",
      VQ_ENABLE + vq_main_desc(0, 0x8000, 100, NEXT, 1) + vq_main_desc(1, 0x9000, 50, WRITE, 0)
      + vq_post(0) + VQ_POP + vq_push(0, 50) + VQ_FLUSH)
write("virtqueue", "indirect-table",
      VQ_ENABLE + vq_main_desc(2, 0x3000, 32, INDIRECT, 0)
      + vq_table_desc(0, 0, 0x8000, 16, NEXT, 1) + vq_table_desc(0, 1, 0x9000, 1, WRITE, 0)
      + vq_post(2) + VQ_POP + vq_push(0, 1) + VQ_FLUSH)
write("virtqueue", "broken-then-reset",
      VQ_ENABLE + vq_post(200) + VQ_POP + u8(10) + u8(0) + u8(0) + u8(4) + u8(1) + u8(1)
      + vq_main_desc(0, 0x8000, 8, 0, 0) + vq_post(0) + VQ_POP + vq_push(0, 0) + VQ_FLUSH)
write("virtqueue", "two-in-flight",
      VQ_ENABLE + vq_main_desc(0, 0x8000, 8, 0, 0) + vq_main_desc(1, 0x8100, 8, WRITE, 0)
      + vq_post(0) + vq_post(1) + VQ_POP + VQ_POP + vq_push(1, 8) + vq_push(0, 0) + VQ_FLUSH
      + vq_post(0) + VQ_POP)


# ---- fuzz_virtio_mmio: ops (0 Status, 1 queue set-up, 2 features, 3-7 access) ----
mm_status = lambda v: u8(0) + u8(v)
mm_queue = lambda q: u8(1) + u8(q)
mm_features = lambda lo, hi: u8(2) + u32(lo) + u32(hi)
MM_REGS = [0x000, 0x004, 0x008, 0x00c, 0x010, 0x014, 0x020, 0x024, 0x030, 0x034, 0x038, 0x044,
           0x050, 0x060, 0x064, 0x070, 0x080, 0x084, 0x090, 0x094, 0x0a0, 0x0a4, 0x0ac, 0x0b0,
           0x0b4, 0x0b8, 0x0bc, 0x0fc, 0x100, 0x108]
mm_write = lambda reg, v: u8(3) + u8(MM_REGS.index(reg)) + u8(0) + u32(v)
mm_read = lambda reg: u8(6) + u8(MM_REGS.index(reg)) + u8(0) + u32(0)
MM_INIT = (mm_status(1) + mm_status(3) + mm_features(1 << 9, 1) + mm_status(0x0b) + mm_queue(0)
           + mm_status(0x0f))

write("virtio_mmio", "normal-init", MM_INIT + mm_write(0x050, 0) + mm_read(0x060))
write("virtio_mmio", "init-by-registers",
      mm_read(0x000) + mm_read(0x004) + mm_read(0x008) + mm_write(0x070, 1) + mm_write(0x070, 3)
      + mm_write(0x014, 1) + mm_read(0x010) + mm_write(0x024, 1) + mm_write(0x020, 1)
      + mm_write(0x070, 0x0b) + mm_write(0x030, 0) + mm_read(0x034) + mm_write(0x038, 16)
      + mm_write(0x080, 0x10000) + mm_write(0x090, 0x10100) + mm_write(0x0a0, 0x11000)
      + mm_write(0x044, 1) + mm_write(0x070, 0x0f) + mm_read(0x070))
write("virtio_mmio", "refused-features",
      mm_status(1) + mm_status(3) + mm_features(0xffffffff, 0xffffffff) + mm_status(0x0b)
      + mm_status(0x80) + mm_status(0x8f) + mm_status(0) + MM_INIT)


# ---- fuzz_virtio_blk: feature bits, then batches of requests ----
def blk_req(kind, sector=0, lens=(), indirect=False, dz=None, hdr=0, status=0):
    b = u8(kind) + u8(hdr) + u8(status) + u8(len(lens) if dz is None else 1) + u8(0)
    b += u8(0) + u8(sector) + u8(0 if indirect else 0x80)
    if dz is not None:
        b += u8(0) + u8(dz[0]) + u8(0) + u8(dz[1]) + u8(0) + u8(dz[2])
    for n in lens:
        b += u8(0) + u8(n // 512)
    return b


BLK_IN, BLK_OUT, BLK_FLUSH, BLK_GET_ID, BLK_DISCARD, BLK_WZ = 0, 2, 4, 5, 6, 7
BLK_ALL = u8(0x1f)  # INDIRECT_DESC, EVENT_IDX, FLUSH, DISCARD, WRITE_ZEROES
blk_batch = lambda *reqs: u8(len(reqs) - 1) + b"".join(reqs)
write("virtio_blk", "read", BLK_ALL + blk_batch(blk_req(BLK_IN, 2, [1024])))
write("virtio_blk", "write-then-read",
      BLK_ALL + blk_batch(blk_req(BLK_OUT, 4, [1024]), blk_req(BLK_IN, 4, [1024]))
      + blk_batch(blk_req(BLK_IN, 3, [512, 1024], hdr=3, status=4)))
write("virtio_blk", "indirect-flush-get-id",
      BLK_ALL + blk_batch(blk_req(BLK_IN, 1, [512, 512], indirect=True),
                          blk_req(BLK_FLUSH), blk_req(BLK_GET_ID, 0, [512])))
write("virtio_blk", "discard-write-zeroes",
      BLK_ALL + blk_batch(blk_req(BLK_DISCARD, dz=(8, 8, 0)), blk_req(BLK_WZ, dz=(16, 4, 1)),
                          blk_req(BLK_IN, 8, [4096])))
write("virtio_blk", "write-past-capacity",
      BLK_ALL + blk_batch(blk_req(BLK_OUT, 127, [1024]), blk_req(BLK_OUT, 128, [512])))


# ---- fuzz_virtio_net: two feature bytes, then ops (0 TX, 1 RX buffers, 3 RX frame) ----
def net_tx_chain(length8=8, layout=0, flags=0, gso=0, indirect=False, how=0, extra=b""):
    return (u8(layout) + u8(how) + u8(0x40) + u8(flags) + u8(gso) + u16(0) + u16(0) + u16(0)
            + u16(0) + u16(0) + u8(length8) + u8(0xe0 if indirect else 0) + extra)


def net_tx(*chains):
    return u8(0) + u8(len(chains) - 1) + b"".join(chains)


def net_rx_chain(segs, indirect=False):
    b = u8(0) + u8(len(segs) - 1) + u8(0xe0 if indirect else 0)
    for n in segs:  # 64 + 4 * v bytes
        b += u8(0) + u8((n - 64) // 4)
    return b


def net_rx(*chains):
    return u8(1) + u8(len(chains) - 1) + b"".join(chains)


def net_frame(length, seed=0x33):
    if (length - 12) % 4 == 0 and length - 12 < 1024:
        return u8(3) + u8(0) + u8(seed) + u8((length - 12) // 4) + bytes(12)
    return u8(3) + u8(0xc0) + u8(seed) + u16(length - 1) + bytes(12)


write("virtio_net", "plain-both-ways",
      u8(0) + u8(0) + net_tx(net_tx_chain(8)) + net_rx(net_rx_chain([1024]), net_rx_chain([512]))
      + net_frame(212) + net_frame(500))
write("virtio_net", "mrg-rxbuf",
      u8(1 | 2) + u8(0) + net_rx(net_rx_chain([1024, 1024, 1024]), net_rx_chain([512], True))
      + net_frame(4000) + net_rx(net_rx_chain([1024, 1024])) + net_frame(3001)
      + net_frame(60) + net_rx(net_rx_chain([1024])))
write("virtio_net", "offloads",
      u8(2 | 8 | 16) + u8(1 | 2 | 4 | 8)
      + net_tx(net_tx_chain(100, flags=1, gso=4), net_tx_chain(100, layout=2, flags=1, gso=5),
               net_tx_chain(10, layout=4, indirect=True), net_tx_chain(1, layout=3)))
write("virtio_net", "oversized",
      u8(1) + u8(0) + net_tx(net_tx_chain(2, how=0xf0)) + net_rx(net_rx_chain([1024]))
      + net_frame(2000) + net_frame(100))



# ---- fuzz_virtio_net_ctrl: N, features, bring-up, then ops (0 batch of control chains,
# 5 a frame on one pair, 6 reset and bring-up, 7 reset with a batch in flight) ----
CTRL_NO_CTRL_VQ, CTRL_NO_MQ, CTRL_INDIRECT, CTRL_EVENT_IDX = 1, 2, 4, 8


def ctrl_up(not_ready=0, fail=0, prepost=None):
    """Bring-up: queues of pairs 1.. not ready (2 bits a pair), tap queues that refuse to
    attach (0xe0 and up), a batch posted before DRIVER_OK."""
    return u16(not_ready) + u8(fail) + (u8(0xc0) + prepost if prepost else u8(0))


def ctrl_set(n, layout=0x01):  # VQ_PAIRS_SET n; layout 1: class/command, then data
    return u8(0) + u8(layout) + u8(n)


def ctrl_cmd(kind, layout, *extra):
    return u8(kind) + u8(layout) + b"".join(extra)


def ctrl_batch(*cmds):
    return u8(len(cmds) - 1) + b"".join(cmds)


ctrl_op = lambda *cmds: u8(0) + ctrl_batch(*cmds)
ctrl_tx = lambda pair: u8(5) + u8(pair) + u8(0x40 + pair)
CTRL_RESET = u8(6)

write("virtio_net_ctrl", "pairs-set-ok-err",
      u8(2) + u8(0) + ctrl_up() + ctrl_op(ctrl_set(4)) + ctrl_op(ctrl_set(2), ctrl_set(1))
      + ctrl_op(ctrl_set(5), ctrl_set(0), ctrl_set(3, layout=0x00)))
write("virtio_net_ctrl", "pair-not-ready",
      u8(1) + u8(0) + ctrl_up(not_ready=0x4) + ctrl_op(ctrl_set(3)) + ctrl_op(ctrl_set(2))
      + CTRL_RESET + ctrl_up() + ctrl_op(ctrl_set(3)))
write("virtio_net_ctrl", "no-ack-byte",
      u8(0) + u8(0) + ctrl_up()
      + ctrl_op(ctrl_set(2, layout=0x08), ctrl_set(2, layout=0x0c) + u8(0),
                ctrl_set(2, layout=0x0c) + u8(1) + u8(0), ctrl_set(2, layout=0x04) + u8(7)))
write("virtio_net_ctrl", "malformed",
      u8(6) + u8(0) + ctrl_up()
      + ctrl_op(ctrl_cmd(0xa0, 0x01, u8(3), b"\x02\x00\x00"),
                ctrl_cmd(0xb0, 0x00, b"\x00\x00", u8(1), b"\x01"),
                ctrl_cmd(0xc0, 0x01, u8(0), u8(2), b"\x02\x00"),
                ctrl_cmd(0xd0, 0x02, u8(6), bytes(64), u8(3)))
      + ctrl_op(ctrl_cmd(0xe8, 0x00, u8(1)), ctrl_cmd(0xf0, 0x00, u16(0x200)),
                ctrl_set(7, layout=0x03)))
write("virtio_net_ctrl", "ctrl-vq-without-mq",
      u8(0) + u8(CTRL_NO_MQ) + ctrl_up() + ctrl_op(ctrl_set(1), ctrl_set(2)))
write("virtio_net_ctrl", "no-ctrl-vq",
      u8(3) + u8(CTRL_NO_CTRL_VQ | CTRL_NO_MQ) + ctrl_up() + ctrl_op(ctrl_set(2)))
write("virtio_net_ctrl", "attach-fails",
      u8(6) + u8(0) + ctrl_up(fail=0xe2) + ctrl_op(ctrl_set(2)) + ctrl_op(ctrl_set(6))
      + ctrl_op(ctrl_set(1)) + CTRL_RESET + ctrl_up() + ctrl_op(ctrl_set(8)))
write("virtio_net_ctrl", "indirect-before-driver-ok",
      u8(5) + u8(CTRL_INDIRECT | CTRL_EVENT_IDX)
      + ctrl_up(prepost=ctrl_batch(ctrl_set(7, layout=0x31), ctrl_set(3, layout=0x32) + u8(1)))
      + ctrl_op(ctrl_set(1, layout=0x30)))
write("virtio_net_ctrl", "reset-in-flight",
      u8(0) + u8(0) + ctrl_up() + ctrl_op(ctrl_set(2)) + u8(7)
      + ctrl_batch(ctrl_set(1), ctrl_set(2)) + ctrl_up() + ctrl_op(ctrl_set(2)))
write("virtio_net_ctrl", "broken-ring",
      u8(1) + u8(0) + ctrl_up()
      + ctrl_op(ctrl_set(3), ctrl_set(2, layout=0xc1) + u8(0) + u8(1))
      + ctrl_up() + ctrl_op(ctrl_set(3)))
write("virtio_net_ctrl", "tx-follows-pairs",
      u8(1) + u8(0) + ctrl_up() + ctrl_op(ctrl_set(2)) + ctrl_tx(1) + ctrl_tx(2)
      + ctrl_op(ctrl_set(1)) + ctrl_tx(1) + ctrl_tx(0) + ctrl_op(ctrl_set(3)) + ctrl_tx(2))
