build-arm64/shared/rt/virtio_mmio.c.o: ../rt/virtio_mmio.c \
 ../rt/virtio_mmio.h rt/rt.h rt/../../rt/rt_common.h
../rt/virtio_mmio.h:
rt/rt.h:
rt/../../rt/rt_common.h:
