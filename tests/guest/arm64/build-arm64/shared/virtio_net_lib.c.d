build-arm64/shared/virtio_net_lib.c.o: ../virtio_net_lib.c \
 ../virtio_net_lib.h ../../../virtio/net.h ../net_frames.h rt/rt.h \
 rt/../../rt/rt_common.h ../rt/virtio_mmio.h
../virtio_net_lib.h:
../../../virtio/net.h:
../net_frames.h:
rt/rt.h:
rt/../../rt/rt_common.h:
../rt/virtio_mmio.h:
