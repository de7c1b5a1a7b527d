/* Minimal Cortex-M3 startup for the QEMU test: copy .data, zero .bss, open semihosting, run main. */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(int argc, char **argv);
extern void initialise_monitor_handles(void);

void Reset_Handler(void);
static void Fault_Handler(void) { exit(3); }

#define H(f) ((uintptr_t)(f))
__attribute__((section(".vectors"), used)) static const uintptr_t vectors[16] = {
    (uintptr_t)&_estack, H(Reset_Handler), H(Fault_Handler), H(Fault_Handler), H(Fault_Handler),
    H(Fault_Handler), H(Fault_Handler), 0, 0, 0, 0, H(Fault_Handler), H(Fault_Handler), 0,
    H(Fault_Handler), H(Fault_Handler),
};

void Reset_Handler(void)
{
    uint32_t *src = &_sidata, *dst;
    static char arg0[] = "test_vectors", arg1[] = FRAMES_JSON;
    static char *argv[] = {arg0, arg1, 0};
    for (dst = &_sdata; dst < &_edata;)
        *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;)
        *dst++ = 0;
    initialise_monitor_handles();
    exit(main(2, argv));
}
