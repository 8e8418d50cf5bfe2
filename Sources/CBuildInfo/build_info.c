#include "build_info.h"

#ifndef VIRTPLACE_VERSION
#define VIRTPLACE_VERSION "0.0.0"
#endif
#ifndef VIRTPLACE_COMMIT
#define VIRTPLACE_COMMIT "unknown"
#endif

const char *virtplace_build_version(void) { return VIRTPLACE_VERSION; }
const char *virtplace_build_commit(void) { return VIRTPLACE_COMMIT; }
