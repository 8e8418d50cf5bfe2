#ifndef VIRTPLACE_CLIBVIRT_SHIM_H
#define VIRTPLACE_CLIBVIRT_SHIM_H
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#endif
