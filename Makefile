# minivmm — see README.md.  `make deps` once (as root), then `make`, `make test`.

# ARCH=x86 (the default) builds for this x86-64 host; ARCH=arm64 cross-compiles
# with Debian's gcc-aarch64-linux-gnu against the arm64 (multiarch) builds of
# the same libraries, into build-arm64/ (docs/arm64.md).  The architecture is
# the compiler's: arch/layout.h picks the map, the wildcard below the files.
ARCH     ?= x86
ifeq ($(ARCH),arm64)
CROSS_COMPILE ?= aarch64-linux-gnu-
CC       := $(CROSS_COMPILE)gcc
PKG_CONFIG := PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig pkg-config
BUILD    ?= build-arm64
# x86's legacy devices and ACPI are not part of the arm64 machine.
ARCH_EXCLUDED_SRCS := devices/i8042.c devices/legacy_ports.c devices/acpi_power.c vmm/core/aml.c
else ifeq ($(ARCH),x86)
CC       ?= gcc
PKG_CONFIG := pkg-config
ARCH_EXCLUDED_SRCS :=
else
$(error ARCH=$(ARCH): minivmm builds for ARCH=x86 (the default) or ARCH=arm64)
endif
PKGS     := liburing json-c libseccomp
OPT      ?= -O2 -g
SANITIZE ?=
CFLAGS   := $(OPT) $(SANITIZE) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I. -Ivmm/core -MMD -MP
CFLAGS   += $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LDFLAGS  += $(SANITIZE)
LDLIBS   += $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null || echo -luring -ljson-c -lseccomp) -lpthread
# libslirp, for the user-mode networking helper minivmm-net-user (and the unit
# tests) only: Debian ships it and its glib as shared libraries alone, which
# would cost minivmm its static link (docs/networking.md).  Not through
# pkg-config: slirp.pc requires glib-2.0.pc, which only libglib2.0-dev ships.
SLIRP_LIBS := -lslirp
BUILD    ?= build
# The VMM itself is linked statically (not the sanitizer builds, which need
# the dynamic runtime): what it keeps resident beyond guest RAM drops from
# 2.5 MiB to 1.4 MiB, most of the difference libc pages a dynamic link maps
# whole (docs/boot-times.md, "Start-up").  STATIC= links it dynamically.
STATIC   ?= $(if $(SANITIZE),,-static)

# Debian packages needed to build, test and build the guest images.
DEPS := build-essential pkg-config liburing-dev check \
	linux-source-6.1 bison flex bc libelf-dev libssl-dev cpio xz-utils \
	busybox-static e2fsprogs iproute2 fio python3 \
	qemu-system-x86 kmod libjson-c-dev jq gnuplot-nox linux-perf \
	libseccomp-dev clang qemu-system-common dpdk-dev libslirp-dev groff-base acpica-tools \
	device-tree-compiler libfdt-dev qemu-system-arm

# For `make ARCH=arm64` (docs/arm64.md): the cross compiler and the arm64
# builds of the libraries, beside the amd64 ones (Debian multiarch).
# libfdt-dev cannot be installed for both architectures at once, so its arm64
# libfdt.a is unpacked into ARM64_LIBFDT_DIR instead (arch/arm64/install-libfdt.sh).
DEPS_ARM64 := gcc-aarch64-linux-gnu libc6-dev:arm64 liburing-dev:arm64 libseccomp-dev:arm64 \
	libjson-c-dev:arm64 libslirp-dev:arm64
ARM64_LIBFDT_DIR := /usr/local/lib/minivmm-arm64

# libslirp's side of --net user runs in a process of its own, minivmm-net-user
# (vmm/net_user/), linked dynamically; minivmm starts it (devices/net/slirp_process.c).
NET_USER_LIB_SRCS := devices/net/slirp.c vmm/net_user/sandbox.c
NET_USER_SRCS := vmm/net_user/main.c vmm/core/log.c $(NET_USER_LIB_SRCS)
NET_USER_LIB_OBJS := $(NET_USER_LIB_SRCS:%.c=$(BUILD)/%.o)

SRCS := $(filter-out $(NET_USER_LIB_SRCS) $(ARCH_EXCLUDED_SRCS), \
	$(wildcard vmm/*.c vmm/core/*.c devices/*.c devices/*/*.c virtio/*.c arch/$(ARCH)/*.c))
OBJS := $(SRCS:%.c=$(BUILD)/%.o)

# Files that issue KVM ioctls (or call those that do); everything else is unit-tested
# against tests/unit/fake_vm.c.
KVM_SRCS := vmm/main.c vmm/core/kvm.c vmm/vcpu.c arch/x86/cpu.c arch/x86/compat.c arch/x86/setup.c \
	arch/x86/guest_virt.c
UNIT_LIB_OBJS := $(filter-out $(KVM_SRCS:%.c=$(BUILD)/%.o),$(OBJS))

# Portable arm64 code (issue 15, docs/arm64.md): unit-tested on this host, never
# linked into the x86 minivmm.  The device-tree builder needs libfdt.
ARCH_NEUTRAL_TEST_SRCS := arch/arm64/fdt.c arch/arm64/image.c
ARCH_NEUTRAL_TEST_OBJS := $(ARCH_NEUTRAL_TEST_SRCS:%.c=$(BUILD)/%.o)

UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_TESTS := $(wildcard tests/unit/test_*.c)
UNIT_OBJS := $(UNIT_SRCS:%.c=$(BUILD)/%.o)

.PHONY: all deps test unit integration asan clean format guests guests-arm64 guest-images run \
	boot-test bench \
	test-kvm test-arm64 arm64 repro-process-start fuzz fuzz-build install uninstall

ifeq ($(ARCH),arm64)
# The arm64 VMM and its helper, side by side in the build directory (minivmm
# looks for minivmm-net-user beside itself), and the arm64 test guests.
all: $(BUILD)/minivmm guests-arm64
LDLIBS += $(ARM64_LIBFDT_DIR)/libfdt.a
else
all: minivmm guests
endif

minivmm: $(OBJS) | minivmm-net-user
	$(CC) $(CFLAGS) $(LDFLAGS) $(STATIC) -o $@ $^ $(LDLIBS)

minivmm-net-user: $(NET_USER_SRCS:%.c=$(BUILD)/%.o)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(SLIRP_LIBS) -lseccomp

# The same binary inside the build directory, so that several builds can be
# tested side by side (MINIVMM=build-x/minivmm bash tests/integration/...).
$(BUILD)/minivmm: $(OBJS) | $(BUILD)/minivmm-net-user
	$(CC) $(CFLAGS) $(LDFLAGS) $(STATIC) -o $@ $^ $(LDLIBS)

# Beside the binary: minivmm looks for its helper there.
$(BUILD)/minivmm-net-user: $(NET_USER_SRCS:%.c=$(BUILD)/%.o)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(SLIRP_LIBS) -lseccomp

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# Each tests/unit/test_NAME.c defines `Suite *NAME_suite(void)`; the list of
# suites is generated so adding a test file needs no other edit.
$(BUILD)/tests/unit/suites.h: $(UNIT_TESTS) Makefile
	@mkdir -p $(dir $@)
	@{ for f in $(notdir $(basename $(UNIT_TESTS))); do n=$${f#test_}; \
	   echo "SUITE($$n)"; done; } > $@.tmp && mv $@.tmp $@

$(BUILD)/tests/unit/main.o: $(BUILD)/tests/unit/suites.h
$(BUILD)/tests/unit/%.o: CFLAGS += -I$(BUILD)/tests/unit -Wno-unused-parameter $(shell pkg-config --cflags check)

# The helper beside it too: the tests start it as minivmm would.
$(BUILD)/unit-tests: $(UNIT_OBJS) $(UNIT_LIB_OBJS) $(NET_USER_LIB_OBJS) $(ARCH_NEUTRAL_TEST_OBJS) \
		| $(BUILD)/minivmm-net-user
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs check) $(LDLIBS) $(SLIRP_LIBS) -lfdt

unit: $(BUILD)/unit-tests
	$(BUILD)/unit-tests

guests:
	$(MAKE) -C tests/guest

# The arm64 test guests (docs/arm64.md), cross-compiled: aarch64-linux-gnu-gcc.
guests-arm64:
	$(MAKE) -C tests/guest/arm64

# Unit tests (also under ASan/UBSan), a short run of each fuzz target, test
# guests under KVM, the Linux boot test; one summary line at the end.
test: minivmm guests $(BUILD)/unit-tests asan fuzz-build
	tests/run-all $(BUILD)

integration: minivmm guests
	tests/run-all $(BUILD) --integration-only --no-ordinary-kvm

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g" \
		SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		minivmm-asan

minivmm-asan: $(OBJS) $(BUILD)/unit-tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)
	$(BUILD)/unit-tests

guest-images:
	$(MAKE) -C guest-images

# libFuzzer targets: each tests/fuzz/fuzz_NAME.c is one target over the device
# models (the unit tests' objects and fake VM), built by clang with ASan and
# UBSan in build-fuzz/.  `make fuzz` runs each for FUZZ_SECONDS from its seed
# corpus in tests/fuzz/corpus/NAME (docs/security.md, "Fuzzing").
FUZZ_TARGETS := $(notdir $(basename $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_SUPPORT := $(filter-out $(wildcard tests/fuzz/fuzz_*.c),$(wildcard tests/fuzz/*.c)) \
	tests/unit/fake_vm.c
FUZZ_SECONDS ?= 60
FUZZ_SANITIZE := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all

fuzz-build:
	$(if $(FUZZ_TARGETS),$(MAKE) BUILD=build-fuzz CC=clang OPT="-O1 -g" \
		SANITIZE="$(FUZZ_SANITIZE)" $(FUZZ_TARGETS:%=build-fuzz/%))

fuzz: fuzz-build
	tests/fuzz/run build-fuzz $(FUZZ_SECONDS)

$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_SUPPORT:%.c=$(BUILD)/%.o) $(UNIT_LIB_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(shell pkg-config --libs check) $(LDLIBS)

$(BUILD)/tests/fuzz/%.o: CFLAGS += -Itests/unit -Itests/fuzz $(shell pkg-config --cflags check)

# Boots the default guest with its shell on this terminal.  `poweroff` in the
# guest (status 0) and Ctrl-A x (EXIT_STATUS_CONSOLE) are the normal ways to
# end it; any other status fails the target, e.g. when the guest's shell kept
# crashing (its /init then powers off with 128+N, which minivmm reports as 99).
EXIT_STATUS_CONSOLE := $(shell sed -n 's/^\#define EXIT_STATUS_CONSOLE[[:space:]]*\([0-9]*\).*/\1/p' \
	vmm/core/vm.h)
run: minivmm guest-images
	@cmd=$$($(MAKE) -s --no-print-directory -C guest-images run-cmd) && echo "$$cmd" && \
	eval "$$cmd"; status=$$?; [ $$status = 0 ] || [ $$status = $(EXIT_STATUS_CONSOLE) ] || \
	{ echo "make run: minivmm exited with status $$status (docs/usage.md, \"Exit status\")" >&2; \
	  exit $$status; }

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, the man page and the
# bash completion (vmm/minivmm-completion.bash).  INSTALL_BIN: which binary
# (default ./minivmm, built if needed).  `make uninstall` removes what it installs.
PREFIX ?= /usr/local
DESTDIR ?=
INSTALL_BIN ?= minivmm
INSTALLED := $(DESTDIR)$(PREFIX)/bin/minivmm $(DESTDIR)$(PREFIX)/share/man/man1/minivmm.1 \
	$(DESTDIR)$(PREFIX)/share/bash-completion/completions/minivmm \
	$(DESTDIR)$(PREFIX)/libexec/minivmm/minivmm-net-user
install: $(INSTALL_BIN)
	install -D -m 0755 $(INSTALL_BIN) $(DESTDIR)$(PREFIX)/bin/minivmm
	# --net user's helper, where minivmm looks for it (devices/net/slirp_process.h)
	install -D -m 0755 $(dir $(INSTALL_BIN))minivmm-net-user \
		$(DESTDIR)$(PREFIX)/libexec/minivmm/minivmm-net-user
	install -D -m 0644 docs/minivmm.1 $(DESTDIR)$(PREFIX)/share/man/man1/minivmm.1
	install -D -m 0644 vmm/minivmm-completion.bash \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/minivmm

uninstall:
	rm -f $(INSTALLED)

boot-test: minivmm guest-images
	tests/boot-test

# The ordinary-KVM stage alone (also part of `make test`): the integration
# tests and the Linux boot test inside a QEMU/TCG machine whose KVM is kvm_amd
# with nested SVM and NPT.  docs/ordinary-kvm.md; 2-4 min measured on 2 cores.
test-kvm: minivmm guests guest-images
	tests/ordinary-kvm/run

# The emulated arm64 host stage (docs/arm64.md): Debian's arm64 kernel under
# QEMU/TCG with EL2 and a GICv3, its KVM running kvm_probe (the reference
# arm64 KVM user, cross-compiled static here) and the arm64 minivmm
# (build-arm64/minivmm) with the tests/guest/arm64 guests, on a board with a
# GICv3 and again with a GICv2 (minivmm's fallback).  `make test` runs both
# too (tests/run-all); tests/arm64-host/run makes `arm64` first.
tests/arm64-host/kvm_probe tests/arm64-host/guest_peer: %: %.c
	aarch64-linux-gnu-gcc -std=c11 -D_GNU_SOURCE -static -O2 -Wall -Wextra -Werror -o $@ $<

# Everything the arm64 stage runs: the ARCH=arm64 build (in build-arm64/,
# whatever BUILD this make has), its test guests, kvm_probe, and the arm64
# Linux guest (guest-images: its kernel takes ~10 min to build the first time)
# with the test disk.
arm64: tests/arm64-host/kvm_probe tests/arm64-host/guest_peer
	$(MAKE) ARCH=arm64 BUILD=build-arm64 all
	$(MAKE) -C guest-images arm64 out/test-disk.ext2

test-arm64: arm64
	tests/arm64-host/run
	ARM64_HOST_GIC=2 tests/arm64-host/run

bench: minivmm guests

# The process-start reproducer of hosts that emulate guest kernel code
# (docs/compat.md); minutes long, not part of `make test`.
repro-process-start: minivmm
	$(MAKE) -C guest-images repro-process-start

deps:
	dpkg --add-architecture arm64
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEPS) $(DEPS_ARM64)
	arch/arm64/install-libfdt.sh $(ARM64_LIBFDT_DIR)

format:
	clang-format -i $(SRCS) $(ARCH_NEUTRAL_TEST_SRCS) $(wildcard */*.h */*/*.h) $(UNIT_SRCS)

clean:
	rm -rf build build-asan build-fuzz build-arm64 minivmm minivmm-asan minivmm-net-user \
		tests/arm64-host/kvm_probe
	$(MAKE) -C tests/guest clean
	$(MAKE) -C tests/guest/arm64 clean

-include $(OBJS:.o=.d) $(UNIT_OBJS:.o=.d) $(NET_USER_SRCS:%.c=$(BUILD)/%.d) $(ARCH_NEUTRAL_TEST_OBJS:.o=.d) \
	$(patsubst %.c,$(BUILD)/%.d,$(wildcard tests/fuzz/*.c))
