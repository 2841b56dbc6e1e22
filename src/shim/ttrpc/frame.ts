// ttrpc framing (containerd/ttrpc 1.1): a 10-byte big-endian header (payload length u32, stream
// id u32, type u8, flags u8) followed by the payload. A unix stream socket delivers these cut
// and joined at arbitrary points, so FrameReader reassembles them from whatever chunks arrive.

export const HEADER_LENGTH = 10;
/** ttrpc's messageLengthMax: 4 MiB of payload, header excluded. */
export const MAX_MESSAGE = 4 << 20;

export const FrameType = { Request: 1, Response: 2 } as const;

export interface Frame {
  streamId: number;
  type: number;
  flags: number;
  payload: Buffer;
}

/** The text ttrpc answers an oversized message with (ResourceExhausted). */
export function tooLargeMessage(length: number, max: number): string {
  return `message length ${length} exceed maximum message size of ${max}`;
}

/**
 * A header announced more payload than the limit. The stream id lets the server answer that
 * stream before it closes the connection; `frames` are the complete frames that preceded it in
 * the same chunk (still to be handled).
 */
export class FrameTooLarge extends Error {
  constructor(
    readonly streamId: number,
    readonly length: number,
    readonly max: number,
    readonly frames: Frame[] = [],
  ) {
    super(tooLargeMessage(length, max));
    this.name = 'FrameTooLarge';
  }
}

export function encodeFrame(streamId: number, type: number, payload: Uint8Array, flags = 0): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.writeUInt32BE(streamId >>> 0, 4);
  frame.writeUInt8(type, 8);
  frame.writeUInt8(flags, 9);
  frame.set(payload, HEADER_LENGTH);
  return frame;
}

interface Header {
  length: number;
  streamId: number;
  type: number;
  flags: number;
}

export class FrameReader {
  // Unconsumed bytes, kept as the chunks they came in: joining only when a frame is complete
  // keeps a large payload that arrives in many small chunks from being copied over and over.
  private chunks: Buffer[] = [];
  private size = 0;
  private header: Header | undefined;
  private failure: FrameTooLarge | undefined;

  constructor(private readonly maxMessage: number = MAX_MESSAGE) {}

  /** Bytes received but not yet part of a returned frame (a partial frame at a close). */
  get pending(): number {
    return this.size + (this.header ? HEADER_LENGTH : 0);
  }

  /**
   * Adds a chunk and returns the frames it completes, in order. Throws FrameTooLarge when a
   * header announces too long a payload; the reader is unusable after that (the connection
   * cannot be resynchronised) and throws the same error on every later push.
   */
  push(chunk: Buffer): Frame[] {
    if (this.failure) throw this.failure;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.size += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (!this.header) {
        if (this.size < HEADER_LENGTH) break;
        const raw = this.take(HEADER_LENGTH);
        const header = {
          length: raw.readUInt32BE(0),
          streamId: raw.readUInt32BE(4),
          type: raw.readUInt8(8),
          flags: raw.readUInt8(9),
        };
        if (header.length > this.maxMessage) {
          this.chunks = [];
          this.size = 0;
          this.failure = new FrameTooLarge(header.streamId, header.length, this.maxMessage, frames);
          throw this.failure;
        }
        this.header = header;
      }
      if (this.size < this.header.length) break;
      const { streamId, type, flags, length } = this.header;
      frames.push({ streamId, type, flags, payload: this.take(length) });
      this.header = undefined;
    }
    return frames;
  }

  // Removes and returns the next n buffered bytes (n <= size).
  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0];
    if (first.length < n) {
      // Join just the chunks that hold the n bytes.
      let count = 0;
      let length = 0;
      while (length < n) length += this.chunks[count++].length;
      this.chunks.splice(0, count, Buffer.concat(this.chunks.slice(0, count), length));
      return this.take(n);
    }
    this.size -= n;
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    this.chunks[0] = first.subarray(n);
    return first.subarray(0, n);
  }
}
