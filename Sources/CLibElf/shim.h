#ifndef CLIBELF_SHIM_H
#define CLIBELF_SHIM_H
#include <libelf.h>
#include <gelf.h>
#endif
