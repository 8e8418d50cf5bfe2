#ifndef VIRTPLACE_CYAML_SHIM_H
#define VIRTPLACE_CYAML_SHIM_H
#include <yaml.h>
#endif
