// The cgroup v2 device filter: the rule list of deviceRules() compiled into an eBPF program of
// type BPF_PROG_TYPE_CGROUP_DEVICE (the same shape runc's devicefilter package generates).
//
// The kernel calls it with R1 = struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
// u32 minor; } (access_type: low 16 bits the device type, high 16 bits the access asked for);
// it returns 1 to allow and 0 to deny. Rules apply as on v1, the last matching rule deciding:
// the program tests them in reverse order and returns on the first match, and denies when none
// matches.
//
//   r2 = ctx->access_type & 0xffff      device type (BLOCK 1, CHAR 2)
//   r3 = ctx->access_type >> 16         access (MKNOD 1, READ 2, WRITE 4)
//   r4 = ctx->major; r5 = ctx->minor
//   per rule, last first:
//     if r2 != type goto next                                    (not for type 'a')
//     allow: r1 = r3 & access; if r1 != r3 goto next   every access asked for is allowed
//     deny:  r1 = r3 & access; if r1 == 0 goto next    some access asked for is denied
//                                                                (neither when access is rwm)
//     if r4 != major goto next                                   (not for major *)
//     if r5 != minor goto next                                   (not for minor *)
//     r0 = allow ? 1 : 0; exit
//   next: ... ; r0 = 0; exit
// A rule with no test at all ("a *:* rwm") decides everything: compilation stops after it, as
// the verifier refuses unreachable instructions; the program then ends with that rule's verdict.
import { RuntimeError } from '../../errors';
import type { DeviceRule } from '../device-rules';

export const BPF_DEVCG_DEV_BLOCK = 1;
export const BPF_DEVCG_DEV_CHAR = 2;
export const BPF_DEVCG_ACC_MKNOD = 1;
export const BPF_DEVCG_ACC_READ = 2;
export const BPF_DEVCG_ACC_WRITE = 4;
const ACC_ALL = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;

export const BPF_INSN_SIZE = 8;

// Opcodes (linux/bpf.h, linux/bpf_common.h).
const BPF_LDX = 0x01;
const BPF_ALU = 0x04; // 32-bit ALU
const BPF_JMP = 0x05;
const BPF_W = 0x00;
const BPF_MEM = 0x60;
const BPF_K = 0x00;
const BPF_X = 0x08;
const BPF_AND = 0x50;
const BPF_RSH = 0x70;
const BPF_MOV = 0xb0;
const BPF_JEQ = 0x10;
const BPF_JNE = 0x50;
const BPF_EXIT = 0x90;

export const OP = {
  LDXW: BPF_LDX | BPF_MEM | BPF_W, // 0x61
  AND32_IMM: BPF_ALU | BPF_AND | BPF_K, // 0x54
  RSH32_IMM: BPF_ALU | BPF_RSH | BPF_K, // 0x74
  MOV32_IMM: BPF_ALU | BPF_MOV | BPF_K, // 0xb4
  MOV32_REG: BPF_ALU | BPF_MOV | BPF_X, // 0xbc
  JEQ_IMM: BPF_JMP | BPF_JEQ | BPF_K, // 0x15
  JNE_IMM: BPF_JMP | BPF_JNE | BPF_K, // 0x55
  JNE_REG: BPF_JMP | BPF_JNE | BPF_X, // 0x5d
  EXIT: BPF_JMP | BPF_EXIT, // 0x95
} as const;

/** One struct bpf_insn. `next` marks a jump to the next rule's block (offset filled in later). */
export interface BpfInsn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

interface Pending extends BpfInsn {
  next?: true;
}

const insn = (code: number, dst: number, src: number, off: number, imm: number): Pending => ({
  code,
  dst,
  src,
  off,
  imm,
});
const jumpNext = (code: number, dst: number, src: number, imm: number): Pending => ({
  ...insn(code, dst, src, 0, imm),
  next: true,
});

function accessBits(rule: DeviceRule, index: number): number {
  let bits = 0;
  for (const c of rule.access) {
    if (c === 'r') bits |= BPF_DEVCG_ACC_READ;
    else if (c === 'w') bits |= BPF_DEVCG_ACC_WRITE;
    else if (c === 'm') bits |= BPF_DEVCG_ACC_MKNOD;
    else throw new RuntimeError(`device rule ${index}: unknown access "${c}" in "${rule.access}"`);
  }
  return bits;
}

function checkNumber(value: number, what: string, index: number): void {
  if (!Number.isInteger(value) || value < -1 || value > 0x7fffffff) {
    throw new RuntimeError(`device rule ${index}: invalid ${what} ${value}`);
  }
}

/** The instructions of one rule, or null for a rule that matches nothing (no access). */
function ruleBlock(rule: DeviceRule, index: number): Pending[] | null {
  const access = accessBits(rule, index);
  if (access === 0) return null;
  checkNumber(rule.major, 'major', index);
  checkNumber(rule.minor, 'minor', index);
  const block: Pending[] = [];
  if (rule.type === 'c' || rule.type === 'b') {
    block.push(jumpNext(OP.JNE_IMM, 2, 0, rule.type === 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK));
  } else if (rule.type !== 'a') {
    throw new RuntimeError(`device rule ${index}: invalid type "${String(rule.type)}"`);
  }
  if (access !== ACC_ALL) {
    block.push(insn(OP.MOV32_REG, 1, 3, 0, 0), insn(OP.AND32_IMM, 1, 0, 0, access));
    block.push(rule.allow ? jumpNext(OP.JNE_REG, 1, 3, 0) : jumpNext(OP.JEQ_IMM, 1, 0, 0));
  }
  if (rule.major !== -1) block.push(jumpNext(OP.JNE_IMM, 4, 0, rule.major));
  if (rule.minor !== -1) block.push(jumpNext(OP.JNE_IMM, 5, 0, rule.minor));
  block.push(insn(OP.MOV32_IMM, 0, 0, 0, rule.allow ? 1 : 0), insn(OP.EXIT, 0, 0, 0, 0));
  return block;
}

/** Compile the rules (in v1 order: the last match wins) into the program's instructions. */
export function compileDeviceRules(rules: readonly DeviceRule[]): BpfInsn[] {
  const program: Pending[] = [
    insn(OP.LDXW, 2, 1, 0, 0), // r2 = *(u32 *)(r1 + 0)   access_type
    insn(OP.AND32_IMM, 2, 0, 0, 0xffff), // r2 &= 0xffff          type
    insn(OP.LDXW, 3, 1, 0, 0), // r3 = *(u32 *)(r1 + 0)
    insn(OP.RSH32_IMM, 3, 0, 0, 16), // r3 >>= 16              access
    insn(OP.LDXW, 4, 1, 4, 0), // r4 = *(u32 *)(r1 + 4)   major
    insn(OP.LDXW, 5, 1, 8, 0), // r5 = *(u32 *)(r1 + 8)   minor
  ];
  let decided = false;
  for (let index = rules.length - 1; index >= 0 && !decided; index--) {
    const block = ruleBlock(rules[index], index);
    if (block === null) continue;
    const start = program.length;
    const end = start + block.length; // the next block's first instruction
    for (const [i, ins] of block.entries()) {
      if (ins.next) {
        const off = end - (start + i + 1);
        if (off > 0x7fff) throw new RuntimeError('device rules: too many rules for one eBPF program');
        program.push({ code: ins.code, dst: ins.dst, src: ins.src, off, imm: ins.imm });
      } else {
        program.push(ins);
      }
    }
    decided = block.length === 2; // no test: this rule answers every request
  }
  if (!decided) program.push(insn(OP.MOV32_IMM, 0, 0, 0, 0), insn(OP.EXIT, 0, 0, 0, 0)); // default deny
  return program.map(({ code, dst, src, off, imm }) => ({ code, dst, src, off, imm }));
}

/** Instructions as the bytes of struct bpf_insn[] (little-endian, as the kernel reads them). */
export function encodeProgram(insns: readonly BpfInsn[]): Buffer {
  const buffer = Buffer.alloc(insns.length * BPF_INSN_SIZE);
  insns.forEach((ins, i) => {
    const at = i * BPF_INSN_SIZE;
    buffer.writeUInt8(ins.code, at);
    buffer.writeUInt8((ins.dst & 0x0f) | ((ins.src & 0x0f) << 4), at + 1);
    buffer.writeInt16LE(ins.off, at + 2);
    buffer.writeInt32LE(ins.imm, at + 4);
  });
  return buffer;
}

export function decodeProgram(buffer: Buffer): BpfInsn[] {
  const out: BpfInsn[] = [];
  for (let at = 0; at + BPF_INSN_SIZE <= buffer.length; at += BPF_INSN_SIZE) {
    const regs = buffer.readUInt8(at + 1);
    out.push({
      code: buffer.readUInt8(at),
      dst: regs & 0x0f,
      src: regs >> 4,
      off: buffer.readInt16LE(at + 2),
      imm: buffer.readInt32LE(at + 4),
    });
  }
  return out;
}

/** The program for a rule list, ready for loadDeviceProgram. */
export function deviceFilterProgram(rules: readonly DeviceRule[]): Buffer {
  return encodeProgram(compileDeviceRules(rules));
}

/** One line per instruction, for tests and debugging: "r2 &= 0xffff", "if r4 != 1 goto +3". */
export function disassemble(insns: readonly BpfInsn[]): string[] {
  return insns.map((i) => {
    const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;
    switch (i.code) {
      case OP.LDXW:
        return `r${i.dst} = *(u32 *)(r${i.src} + ${i.off})`;
      case OP.AND32_IMM:
        return `w${i.dst} &= ${hex(i.imm)}`;
      case OP.RSH32_IMM:
        return `w${i.dst} >>= ${i.imm}`;
      case OP.MOV32_IMM:
        return `w${i.dst} = ${i.imm}`;
      case OP.MOV32_REG:
        return `w${i.dst} = w${i.src}`;
      case OP.JEQ_IMM:
        return `if r${i.dst} == ${i.imm} goto +${i.off}`;
      case OP.JNE_IMM:
        return `if r${i.dst} != ${i.imm} goto +${i.off}`;
      case OP.JNE_REG:
        return `if r${i.dst} != r${i.src} goto +${i.off}`;
      case OP.EXIT:
        return 'exit';
      default:
        return `.insn ${hex(i.code)}`;
    }
  });
}
