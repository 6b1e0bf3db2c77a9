#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_e1000, fuzz_pci, fuzz_loaders and
fuzz_cmdline (tests/fuzz/corpus/NAME/).  Each seed is a small, valid input
in the target's decision format (see the comment at the top of each
target), so the fuzzer starts from a device that is set up and working.
Run from anywhere: python3 tests/fuzz/make-device-seeds.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u8(v):
    return struct.pack("<B", v)


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_e1000 ----
# Header: checked TX frame length, pieces, checked RX frame length, seed.
E1000_REGS = ["CTRL", "STATUS", "EECD", "EERD", "MDIC", "VET", "ICR", "ITR", "ICS", "IMS"]


def e1000_header(tx_len=100, pieces=2, rx_len=64, seed=7):
    return u16(tx_len - 14) + u8(pieces - 1) + u16(rx_len - 14) + u8(seed)


def e1000_reg(name):
    return u8(E1000_REGS.index(name))  # index in the target's register table


def e1000_write(name, value):
    return u8(0) + e1000_reg(name) + u8(0) + u64(value)  # op 0, width 4


def e1000_read(name):
    return u8(3) + e1000_reg(name) + u8(0)


def e1000_seeds():
    init = e1000_header()
    # set up rings: TX at 0x800, RX at 0x900, 8 each, RCTL extras 0, RX buffers at 0x2000
    init += u8(6) + u16(0x800) + u16(0x900) + u8(0) + u8(0) + u32(0) + u16(0x2000)
    init += e1000_write("IMS", 0x9d)
    # a 64-byte frame in RAM at 0x3000 (to a unicast address), queued in one descriptor
    frame = bytes([0x02, 0, 0, 0, 0, 1, 0x52, 0x54, 0, 0xaa, 0xbb, 0xcc, 0x88, 0xb5])
    frame += bytes(range(64 - len(frame)))
    init += u8(5) + u16(0x3000) + u8(63) + frame
    init += u8(14) + u8(0) + u8(0x0a) + u16(0x3000) + u16(64)
    init += u8(11) + u8(13)
    # a frame to us arrives and is received, then ICR is read
    init += u8(9) + u8(0) + u16(100) + u8(3) + u8(10) + e1000_read("ICR")
    # reset through the I/O BAR: IOADDR = CTRL, IODATA = RST
    init += u8(4) + u8(0) + u8(0) + u32(0) + u8(4) + u8(4) + u8(0) + u32(0x04000000)
    write("e1000", "init-tx-rx", init)

    phy = e1000_header(tx_len=60, pieces=1, rx_len=1514, seed=1)
    phy += e1000_write("MDIC", 0x08000000 | 1 << 21 | 2 << 16)  # read PHY ID1
    phy += e1000_read("MDIC")
    phy += e1000_write("EERD", 0x1 | 1 << 8)
    phy += e1000_read("EERD")
    phy += e1000_write("EECD", 0x40)  # request the EEPROM
    phy += e1000_write("ICS", 0x4) + e1000_read("ICR")
    write("e1000", "phy-eeprom-irq", phy)

    # TSO: rings, then a 3000-byte payload cut at MSS 1000 with both checksums; then a
    # checksum-only packet with a VLAN tag (CTRL.VME on)
    tso = e1000_header(seed=3)
    tso += u8(6) + u16(0x800) + u16(0x900) + u8(1) + u8(0) + u32(0) + u16(0x8000)
    tso += u8(0x1e) + u16(0x1000) + u16(3000) + u16(1000) + u8(0x31)
    tso += u8(11) + u8(11) + u8(13)
    tso += e1000_write("CTRL", 0x40000000 | 0x41)
    tso += u8(0x1e) + u16(0x3000) + u16(100) + u16(0) + u8(0x34)
    tso += u8(11) + u8(13)
    write("e1000", "tso-csum-vlan", tso)
    write("e1000", "header-only", e1000_header(tx_len=1514, pieces=3, rx_len=14))


# ---- fuzz_pci ----
# Each op: a byte whose low two bits choose config access / window access /
# BAR sizing / INTA#, then the op's decisions.


def pci_cfg(port_base, k, width_sel, write, value=None, wellformed=None):
    op = 0 | (0x10 if write else 0) | (0x20 if port_base == 0xCF8 else 0)
    if wellformed is not None:
        op |= 0x40
    out = u8(op) + u8(k) + u8(width_sel)
    if write:
        out += u32(value or 0)
        if wellformed is not None:
            out += wellformed
    return out


def pci_seeds():
    # Probe like Linux: address of 00:01.0 reg 0, read the IDs, size BAR0, enable decoding,
    # then touch BAR0 of device A through the MMIO window and raise INTA#.
    s = pci_cfg(0xCF8, 0, 2, True, 0, wellformed=u8(1) + u8(0))
    s += pci_cfg(0xCFC, 0, 2, False)
    s += u8(2) + u8(1) + u8(0) + u32(0)  # size BAR0 of 00:01.0, put it at 0 (moves it)
    s += u8(2) + u8(1) + u8(0) + u32(0xE0000000)  # and back into the window
    s += pci_cfg(0xCF8, 0, 2, True, 0, wellformed=u8(1) + u8(4))
    s += pci_cfg(0xCFC, 0, 1, True, 0x7)  # command: I/O, memory, master (2 bytes)
    s += u8(0x01) + u8(2) + u8(0) + u8(0) + u64(0) + u8(200) + u32(0x10)  # read BAR0+0x10
    s += u8(0x21) + u8(2) + u8(0) + u8(0) + u64(0x12345678) + u8(200) + u32(0x14)
    s += u8(0x13)  # INTA# up on device A
    s += pci_cfg(0xCF8, 0, 2, True, 0, wellformed=u8(1) + u8(0x40))
    s += pci_cfg(0xCFC, 1, 0, False)  # device register 0x41, one byte
    s += u8(0x03)  # INTA# down
    write("pci", "probe-enable-access", s)
    # Absent functions: slot 4, function 3, bus 1.
    a = pci_cfg(0xCF8, 0, 2, True, 0x80002000)
    a += pci_cfg(0xCFC, 0, 2, False)
    a += pci_cfg(0xCF8, 0, 2, True, 0x80000B00)
    a += pci_cfg(0xCFC, 2, 1, False)
    a += pci_cfg(0xCF8, 0, 2, True, 0x80010800)
    a += pci_cfg(0xCFC, 0, 2, False)
    a += pci_cfg(0xCF8, 3, 0, True, 0x01)  # the byte write to 0xCFB of Linux's probe
    a += pci_cfg(0xCF8, 0, 2, False)
    write("pci", "absent-functions", a)


# ---- fuzz_loaders ----
# Byte 0: RAM size (0: 2 MiB, 1: 3 MiB + 4 KiB, 2: 4 MiB, 3: 1.5 MiB); bytes 1-4: initrd
# length; then the kernel image.


def elf_image(paddr=0x100000, filesz=0x200, memsz=0x1000, entry=None):
    ehdr_size, phdr_size = 64, 56
    offset = 0x100
    eh = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    eh += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, entry if entry is not None else paddr,
                      ehdr_size, 0, 0, ehdr_size, phdr_size, 1, 0, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 5, offset, 0xffffffff80000000 + paddr, paddr, filesz,
                     memsz, 0x1000)
    img = eh + ph
    img += bytes(offset - len(img))
    img += bytes((i * 7 + 3) & 0xff for i in range(filesz))
    return img


def bzimage(setup_sects=1, payload=0x400, pref=0x100000, init_size=0x2000):
    setup = (setup_sects + 1) * 512
    img = bytearray(setup + payload)
    hdr_end = 0x26c
    struct.pack_into("<B", img, 0x1f1, setup_sects)
    struct.pack_into("<I", img, 0x1f4, payload // 16)  # syssize
    struct.pack_into("<H", img, 0x1fe, 0xaa55)
    struct.pack_into("<H", img, 0x200, 0xeb | (hdr_end - 0x202) << 8)
    img[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", img, 0x206, 0x020f)  # version 2.15
    struct.pack_into("<B", img, 0x211, 0x01)  # loadflags: LOADED_HIGH
    struct.pack_into("<I", img, 0x214, 0x100000)  # code32_start
    struct.pack_into("<I", img, 0x22c, 0x7fffffff)  # initrd_addr_max
    struct.pack_into("<I", img, 0x230, 0x200000)  # kernel_alignment
    struct.pack_into("<B", img, 0x234, 1)  # relocatable_kernel
    struct.pack_into("<H", img, 0x236, 0x1)  # xloadflags: XLF_KERNEL_64
    struct.pack_into("<I", img, 0x238, 2047)  # cmdline_size
    struct.pack_into("<Q", img, 0x258, pref)  # pref_address
    struct.pack_into("<I", img, 0x260, init_size)  # init_size
    for i in range(payload):
        img[setup + i] = (i * 7 + 3) & 0xff
    return bytes(img)


def loaders_seeds():
    write("loaders", "elf-one-segment", u8(0) + u32(0x1000) + elf_image())
    write("loaders", "elf-big-initrd", u8(2) + u32(0x200000) + elf_image(memsz=0x10000))
    write("loaders", "bzimage", u8(0) + u32(0x3000) + bzimage())
    write("loaders", "bzimage-pref-high", u8(1) + u32(1) + bzimage(pref=0x180000))


# ---- fuzz_cmdline ----
# The arguments after argv[0], NUL-separated.


def cmdline_seeds():
    def args(*a):
        return b"\0".join(x.encode() for x in a)

    write("cmdline", "typical", args("--kernel", "vmlinux", "--initrd", "initrd.img", "--mem",
                                      "512M", "--cpus", "2", "--cmdline",
                                      "console=ttyS0 quiet", "--console", "stdio"))
    write("cmdline", "devices", args("--kernel=bzImage", "--disk", "a.img,ro,cache=none",
                                      "--disk", "b,,c.img,engine=sync", "--net",
                                      "tap0,model=e1000,mac=52:54:00:12:34:56", "--net",
                                      "tap1", "--stats=/tmp/s.json", "--hugepages"))
    write("cmdline", "placement", args("--kernel", "k", "--cpus", "2", "--cpu-affinity",
                                        "vcpus=0,vcpu1=0,io=0", "--cpu-profile", "compat",
                                        "--console", "file:/tmp/c.log", "-v"))
    write("cmdline", "vhost-user", args("--kernel", "k", "--disk", "vhost-user=/run/blk.sock",
                                         "--net", "vhost-user=/run/n,,et.sock,mac=52:54:00:00:00:01",
                                         "--memory-backend", "hugetlb", "--mem", "64M"))
    write("cmdline", "help", args("--help"))


def main():
    e1000_seeds()
    pci_seeds()
    loaders_seeds()
    cmdline_seeds()


if __name__ == "__main__":
    main()
