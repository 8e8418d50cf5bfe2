#ifndef VIRTPLACE_CLIBVIRT_SHIM_H
#define VIRTPLACE_CLIBVIRT_SHIM_H
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#ifdef __linux__
/* malloc_trim, for ProcessMemory.releaseFreed (Sources/Libvirt/Library.swift). */
#include <malloc.h>
#endif
#endif
