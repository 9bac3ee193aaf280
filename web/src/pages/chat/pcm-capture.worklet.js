// The audio worklet of voice messages (loaded by useVoiceRecorder as a same-origin module: the
// server's CSP allows no inline or blob scripts). Mixes its input down to mono and hands the
// samples to the page in blocks, at the context's rate; the page downsamples and encodes them.
/* global AudioWorkletProcessor, registerProcessor */

const BLOCK = 2048;

class PcmCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(BLOCK);
    this.filled = 0;
    // 'flush': send what is buffered now (the recording is ending), then say so.
    this.port.onmessage = (e) => {
      if (e.data === 'flush') {
        this.send();
        this.port.postMessage('flushed');
      }
    };
  }

  send() {
    if (this.filled === 0) return;
    const out = this.block.slice(0, this.filled);
    this.port.postMessage(out, [out.buffer]);
    this.filled = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length > 0) {
      const frames = channels[0].length;
      for (let i = 0; i < frames; i++) {
        let sum = 0;
        for (let c = 0; c < channels.length; c++) sum += channels[c][i];
        this.block[this.filled++] = sum / channels.length;
        if (this.filled === BLOCK) this.send();
      }
    }
    return true;
  }
}

registerProcessor('tessera-pcm-capture', PcmCapture);
