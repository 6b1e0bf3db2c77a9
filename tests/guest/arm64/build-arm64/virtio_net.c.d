build-arm64/virtio_net.c.o: virtio_net.c ../net_frames.h rt/rt.h \
 rt/../../rt/rt_common.h ../virtio_net_lib.h ../../../virtio/net.h \
 ../net_frames.h ../rt/virtio_mmio.h
../net_frames.h:
rt/rt.h:
rt/../../rt/rt_common.h:
../virtio_net_lib.h:
../../../virtio/net.h:
../net_frames.h:
../rt/virtio_mmio.h:
