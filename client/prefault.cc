#include "client/prefault.h"

#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace rx {

bool prefaultOwnCode() {
  bool ok = false;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
        bool& all = *static_cast<bool*>(data);
        all = true;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
          const uintptr_t begin = (info->dlpi_addr + ph.p_vaddr) & ~(page - 1);
          const uintptr_t end = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz + page - 1) & ~(page - 1);
          if (madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_READ) != 0) all = false;
        }
        return 1;  // the executable comes first; stop there
      },
      &ok);
  return ok;
}

}  // namespace rx
