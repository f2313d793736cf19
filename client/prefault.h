#pragma once
// Maps the client's own machine code into its page tables in one call at start-up, instead of
// one page fault per 16 pages (the kernel's fault-around) as the code first runs.
//
// Why: on the VMs this project measures on, a page fault costs about 20 us (a trap through the
// hypervisor; 200 faults on fresh memory took 18-20 us each), while MADV_POPULATE_READ maps a
// page already in the page cache for a fraction of that. The one-shot client took about 45
// faults on its 4.6 MB of code after main(); mapping it all is one call of 0.23-0.38 ms (strace
// -T). `rexec HOST true`: 300 -> 253 page faults, and 100 of them in a row took 6.6-8% less time
// and 5-6.5% less CPU, client and daemon together (two sets of 11 runs taken in turn). Measured
// again a session later, one at a time: 287 -> 256 faults, but the time within the noise (40
// runs: 20.3 and 20.2 ms); 200 at 50 in parallel: 2.7% less client CPU in both sets of runs,
// and 2% less time in one, the same in the other. So a small gain, never a loss. Where a fault
// costs under 1 us (bare metal) it gains nothing and should cost about 0.1 ms (an estimate, not
// measured here).
namespace rx {

// Populates the executable's code segments. Not the shared libraries': libc's code mostly ran
// before main(), and mapping it as well saved 5 faults more. False if the kernel cannot
// (MADV_POPULATE_READ is Linux 5.14+); then the code is faulted in as before.
bool prefaultOwnCode();

}  // namespace rx
