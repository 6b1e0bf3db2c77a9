#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_vhost_user (tests/fuzz/corpus/vhost_user/):
a few back-end conversations in the target's input format (see the comment
at the top of tests/fuzz/fuzz_vhost_user.c), valid ones and a few that go
wrong in one place, so that the fuzzer starts from replies that pass the
checks.  Run from anywhere: python3 tests/fuzz/make-vhost_user-seeds.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
REPLY = 0x1 | 0x4  # version 1, REPLY
F_PROTOCOL = 1 << 30
MQ, REPLY_ACK, CONFIG, RESET_DEVICE = 0, 3, 9, 13
WANT_ALL = 0xF  # target encoding: MQ, REPLY_ACK, CONFIG, RESET_DEVICE

(GET_FEATURES, SET_FEATURES, SET_OWNER, SET_MEM_TABLE, SET_VRING_NUM, SET_VRING_ADDR,
 SET_VRING_BASE, GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL, GET_PROTOCOL_FEATURES,
 GET_QUEUE_NUM, SET_VRING_ENABLE, GET_CONFIG, RESET_DEVICE_REQ) = (
    1, 2, 3, 5, 8, 9, 10, 11, 12, 13, 15, 17, 18, 24, 34)

# The target's calls (low nibble) and their request codes.
CALLS = {"GET_QUEUE_NUM": 0, "GET_CONFIG": 1, "SET_FEATURES": 2, "SET_MEM_TABLE": 3,
         "SET_VRING_NUM": 4, "SET_VRING_BASE": 5, "SET_VRING_ADDR": 6, "SET_VRING_KICK": 7,
         "SET_VRING_CALL": 8, "SET_VRING_ENABLE": 9, "GET_VRING_BASE": 10, "RESET_DEVICE": 11}


def call(name, arg=0):
    return CALLS[name] | (arg << 4)


def msg(request, payload=b"", flags=REPLY, size=None):
    return struct.pack("<III", request, flags, len(payload) if size is None else size) + payload


def u64(request, value):
    return msg(request, struct.pack("<Q", value))


def ack(request, status=0):
    return u64(request, status)


def state(request, index, num):
    return msg(request, struct.pack("<II", index, num))


def config(offset, data):
    return msg(GET_CONFIG, struct.pack("<III", offset, len(data), 0) + data)


def seed(name, wanted, calls, stream, fd_flags=0, fd_at=0):
    calls = (calls + [0] * 8)[:8]
    data = bytes([wanted, fd_flags, fd_at]) + bytes(calls) + stream
    d = os.path.join(HERE, "corpus", "vhost_user")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


OPEN_ACK = (u64(GET_FEATURES, F_PROTOCOL | 0x3)
            + u64(GET_PROTOCOL_FEATURES, (1 << MQ) | (1 << REPLY_ACK) | (1 << CONFIG)
                  | (1 << RESET_DEVICE))
            + ack(SET_OWNER))

# Without protocol features: nothing but GET_VRING_BASE is answered.
seed("plain", 0,
     [call("SET_VRING_NUM", 1), call("SET_VRING_KICK", 1), call("GET_VRING_BASE", 1),
      call("RESET_DEVICE")],
     u64(GET_FEATURES, 0x3) + state(GET_VRING_BASE, 1, 7))

# Every feature and REPLY_ACK: each call answered.
seed("reply-ack-all", WANT_ALL,
     [call("GET_QUEUE_NUM"), call("GET_CONFIG", 3), call("SET_FEATURES", 1),
      call("SET_MEM_TABLE", 1), call("SET_VRING_KICK", 1), call("GET_VRING_BASE", 2),
      call("RESET_DEVICE"), call("SET_VRING_ENABLE", 1)],
     OPEN_ACK + u64(GET_QUEUE_NUM, 2) + config(3, b"\x01\x02\x03\x04")
     + ack(SET_FEATURES) + ack(SET_MEM_TABLE) + ack(SET_VRING_KICK)
     + state(GET_VRING_BASE, 2, 9) + ack(RESET_DEVICE_REQ) + ack(SET_VRING_ENABLE))

# A refused request (status 1), then more.
seed("refused", WANT_ALL,
     [call("SET_VRING_NUM"), call("SET_VRING_ADDR"), call("SET_VRING_CALL")],
     OPEN_ACK + ack(SET_VRING_NUM, 1) + ack(SET_VRING_ADDR) + ack(SET_VRING_CALL))

# A descriptor with the first reply.
seed("fd-attached", 0, [call("GET_VRING_BASE")],
     u64(GET_FEATURES, 0) + state(GET_VRING_BASE, 0, 1), fd_flags=1)

# A descriptor with a later reply (offset 20: the GET_VRING_BASE answer).
seed("fd-later", 0, [call("GET_VRING_BASE")],
     u64(GET_FEATURES, 0) + state(GET_VRING_BASE, 0, 1), fd_flags=2, fd_at=20)

# GET_CONFIG answered for another offset.
seed("config-wrong-offset", WANT_ALL, [call("GET_CONFIG", 3)],
     OPEN_ACK + config(1, b"\x01\x02\x03\x04"))

# A reply cut short by EOF.
seed("truncated", WANT_ALL, [call("GET_QUEUE_NUM")], OPEN_ACK + u64(GET_QUEUE_NUM, 4)[:15])

# Wrong flags and wrong size.
seed("no-reply-flag", 0, [], msg(GET_FEATURES, struct.pack("<Q", 0), flags=1))
seed("wrong-size", 0, [], msg(GET_FEATURES, struct.pack("<I", 0)))
