build-arm64/shared/virtio_blk_lib.c.o: ../virtio_blk_lib.c \
 ../virtio_blk_lib.h ../../../virtio/blk.h ../rt/virtio_mmio.h rt/rt.h \
 rt/../../rt/rt_common.h
../virtio_blk_lib.h:
../../../virtio/blk.h:
../rt/virtio_mmio.h:
rt/rt.h:
rt/../../rt/rt_common.h:
