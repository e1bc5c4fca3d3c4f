// The book's trained models in the reader's browser: the forward pass of each kind, written
// out, for a context of character ids -> the logits of the next character.
//
// A model comes as one file written by charlm.export (Python): 4 bytes giving the length of
// a JSON header, the header, then every tensor as float32 little-endian. Every function here
// computes what the package's forward pass computes in eval mode, in JavaScript's 64-bit
// numbers from the 32-bit weights, so its probabilities agree with torch's to about 1e-7.
// Works in a page (window.charlmModels) and in Node (require), which the tests use.
(function (root) {
  "use strict";

  // ---- reading an export ------------------------------------------------------------------

  function parseExport(buffer) {
    const view = new DataView(buffer);
    if (buffer.byteLength < 4) throw new Error("not a charlm export: too short");
    const size = view.getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, size)));
    if (header.format !== "charlm-export/1") {
      throw new Error(`not a charlm-export/1 file (format: ${header.format})`);
    }
    const start = 4 + size;
    // float32 on disk; float64 here, once, so that the arithmetic below reads one kind of array
    const values = Float64Array.from(new Float32Array(buffer.slice(start, start + 4 * header.values)));
    const tensors = {};
    for (const t of header.tensors) {
      const count = t.shape.reduce((a, b) => a * b, 1);
      tensors[t.name] = { shape: t.shape, data: values.subarray(t.offset, t.offset + count) };
    }
    return { header, tensors };
  }

  // ---- arithmetic on rows (plain arrays of numbers) ---------------------------------------

  // x (n) @ W (n, m) + b (m): the package's Linear stores W as (fan_in, fan_out). Each output
  // is a dot product of x with a column of W, so the columns are laid out one after another
  // (W transposed, once per matrix) for the loop to read them in order.
  function linear(x, W, b) {
    const [n, m] = W.shape;
    if (!W.columns) {
      W.columns = new Float64Array(n * m);
      for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) W.columns[j * n + i] = W.data[i * m + j];
    }
    const w = W.columns;
    const out = new Float64Array(m);
    let j = 0;
    // four outputs at a time: each x[i] is read once for four columns, and the four running
    // sums do not wait for each other
    for (; j + 4 <= m; j += 4) {
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      const c0 = j * n, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n;
      let i = 0;
      for (; i + 2 <= n; i += 2) {
        const xa = x[i], xb = x[i + 1];
        s0 += xa * w[c0 + i] + xb * w[c0 + i + 1];
        s1 += xa * w[c1 + i] + xb * w[c1 + i + 1];
        s2 += xa * w[c2 + i] + xb * w[c2 + i + 1];
        s3 += xa * w[c3 + i] + xb * w[c3 + i + 1];
      }
      if (i < n) {
        const xa = x[i];
        s0 += xa * w[c0 + i];
        s1 += xa * w[c1 + i];
        s2 += xa * w[c2 + i];
        s3 += xa * w[c3 + i];
      }
      out[j] = s0;
      out[j + 1] = s1;
      out[j + 2] = s2;
      out[j + 3] = s3;
    }
    for (; j < m; j++) {
      let s = 0;
      const c = j * n;
      for (let i = 0; i < n; i++) s += x[i] * w[c + i];
      out[j] = s;
    }
    if (b) for (let k = 0; k < m; k++) out[k] += b.data[k];
    return out;
  }

  // row i of a matrix, as a view (not a copy): read it, never write it
  function row(T, i) {
    const m = T.shape[T.shape.length - 1];
    return T.data.subarray(i * m, (i + 1) * m);
  }

  function concat(rows) {
    const out = new Float64Array(rows.reduce((n, r) => n + r.length, 0));
    let at = 0;
    for (const r of rows) {
      out.set(r, at);
      at += r.length;
    }
    return out;
  }

  const tanh = (x) => x.map(Math.tanh);
  const sigmoid = (v) => 1 / (1 + Math.exp(-v));

  // erf by Abramowitz and Stegun 7.1.26 (error below 1.5e-7), for GELU as torch computes it
  function erf(x) {
    const s = Math.sign(x);
    const a = Math.abs(x);
    const t = 1 / (1 + 0.3275911 * a);
    const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t
      + 0.254829592) * t * Math.exp(-a * a);
    return s * y;
  }
  const gelu = (x) => x.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));

  // normalise with stored statistics: BatchNorm in eval mode
  function batchnormEval(x, w, b, mean, variance, eps) {
    return x.map((v, j) => w.data[j] * (v - mean.data[j]) / Math.sqrt(variance.data[j] + eps)
      + b.data[j]);
  }

  function layernorm(x, w, b, eps = 1e-5) {
    const n = x.length;
    let mean = 0;
    for (let j = 0; j < n; j++) mean += x[j];
    mean /= n;
    let variance = 0;
    for (let j = 0; j < n; j++) variance += (x[j] - mean) ** 2;
    const scale = 1 / Math.sqrt(variance / n + eps);
    const out = new Float64Array(n);
    for (let j = 0; j < n; j++) out[j] = w.data[j] * (x[j] - mean) * scale + b.data[j];
    return out;
  }

  // ---- the models -------------------------------------------------------------------------

  // Chapter 1: counts, smoothed and normalised; the context's last block_size characters
  function counts({ header, tensors }) {
    const V = header.vocab.length;
    const T = header.config.block_size;
    const k = header.config.smoothing;
    const C = tensors.counts;
    return (ctx) => {
      let r = 0;
      for (const id of ctx.slice(-T)) r = r * V + id;
      const cells = row(C, r).map((c) => c + k);
      const total = cells.reduce((a, v) => a + v, 0);
      return Array.from(cells, (c) => (total > 0 ? Math.log(c / total) : -Math.log(V)));
    };
  }

  // Chapter 1: the neural bigram, logits = row `last` of W
  function bigram({ tensors }) {
    return (ctx) => Array.from(row(tensors.weight, ctx[ctx.length - 1]));
  }

  // Chapters 2-3: embeddings -> W1 (BatchNorm or LayerNorm) -> tanh or relu -> W2
  function mlp({ header, tensors: p }) {
    const c = header.config;
    const normalised = c.batchnorm || c.layernorm;
    return (ctx) => {
      const embcat = concat(ctx.map((id) => row(p.C, id)));
      let h = linear(embcat, p.W1, normalised ? null : p.b1);
      if (c.batchnorm) {
        h = h.map((v, j) => p.bngain.data[j] * (v - p.bnmean_running.data[j])
          / p.bnstd_running.data[j] + p.bnbias.data[j]);
      } else if (c.layernorm) {
        h = layernorm(h, p.bngain, p.bnbias);
      }
      h = c.activation === "relu" ? h.map((v) => Math.max(v, 0)) : tanh(h);
      const logits = linear(h, p.W2, p.b2);
      if (c.direct) {
        const d = linear(embcat, p.Wd, null);
        for (let j = 0; j < logits.length; j++) logits[j] += d[j];
      }
      return Array.from(logits);
    };
  }

  // Chapter 5: a Sequential of layers, applied to a (positions, features) list of rows
  function sequential({ header, tensors }) {
    const layers = header.layers;
    const param = (i, name) => tensors[`layers.${i}.${name}`];
    return (ctx) => {
      let x = ctx.map((id) => row(param(0, "weight"), id)); // Embedding: (T, E)
      for (let i = 1; i < layers.length; i++) {
        const layer = layers[i];
        if (layer.type === "FlattenConsecutive") {
          const grouped = [];
          for (let t = 0; t < x.length; t += layer.n) grouped.push(concat(x.slice(t, t + layer.n)));
          x = grouped;
        } else if (layer.type === "Linear") {
          x = x.map((r) => linear(r, param(i, "weight"), layer.bias ? param(i, "bias") : null));
        } else if (layer.type.endsWith("BatchNorm1d")) {
          x = x.map((r) => batchnormEval(r, param(i, "weight"), param(i, "bias"),
            param(i, "running_mean"), param(i, "running_var"), layer.eps));
        } else if (layer.type.endsWith("Tanh")) {
          x = x.map(tanh);
        } else {
          throw new Error(`a layer this page cannot run: ${layer.type}`);
        }
      }
      return Array.from(x[x.length - 1]); // one position left: the logits
    };
  }

  // Chapter 7: the window read as a word is written, from its start token on
  function leftAligned(ctx) {
    let first = 0;
    while (first < ctx.length && ctx[first] === 0) first++;
    return first === 0 ? ctx : ctx.slice(first - 1); // keep one boundary token: the start
  }

  // Chapter 7's models read a word one character at a time, keeping what they need of the
  // characters before: a reader starts at the start token, push(id) reads one more, logits()
  // predicts the next. Sampling keeps one reader per name instead of rereading its prefix.
  function byReading(reader) {
    return {
      reader,
      logits: (ctx) => {
        const r = reader();
        for (const id of leftAligned(ctx)) r.push(id);
        return r.logits();
      },
    };
  }

  // Chapter 7: an RNN or a GRU, its state carried from each character to the next
  function recurrent({ header, tensors: p }) {
    const gru = header.config.cell === "gru";
    // what the cell makes of each character's embedding: computed once per character
    const fromChar = header.vocab.map((_, id) =>
      linear(row(p["embedding.weight"], id), p["cell.x2h.weight"], p["cell.x2h.bias"]));
    return byReading(() => {
      let h = row(p.start, 0);
      return {
        push(id) {
          const xh = fromChar[id];
          const hh = linear(h, p["cell.h2h.weight"], p["cell.h2h.bias"]);
          if (!gru) {
            h = xh.map((v, j) => Math.tanh(v + hh[j]));
            return;
          }
          const H = h.length;
          h = h.map((hj, j) => {
            const r = sigmoid(xh[j] + hh[j]);
            const z = sigmoid(xh[H + j] + hh[H + j]);
            const n = Math.tanh(xh[2 * H + j] + r * hh[2 * H + j]);
            return (1 - z) * n + z * hj;
          });
        },
        logits: () => Array.from(linear(h, p["head.weight"], p["head.bias"])),
      };
    });
  }

  // Chapter 7: a causal Transformer; each block keeps the keys and values of the positions
  // read so far, which is all a new position attends to
  function transformer({ header, tensors: p }) {
    const c = header.config;
    const C = c.n_embd;
    const hs = C / c.n_head;
    // each block's tensors by their names in the block: blocks[b]["ln1.weight"], ...
    const blocks = Array.from({ length: c.n_layer }, (_, b) => Object.fromEntries(
      Object.entries(p).filter(([name]) => name.startsWith(`blocks.${b}.`))
        .map(([name, tensor]) => [name.slice(`blocks.${b}.`.length), tensor])));
    const q = (b, name) => blocks[b][name];
    return byReading(() => {
      const keys = Array.from({ length: c.n_layer }, () => []);
      const values = Array.from({ length: c.n_layer }, () => []);
      let x = null;
      return {
        push(id) {
          const t = keys[0].length;
          x = row(p.wte, id).map((v, j) => v + p.wpe.data[t * C + j]);
          for (let b = 0; b < c.n_layer; b++) {
            const qkv = linear(layernorm(x, q(b, "ln1.weight"), q(b, "ln1.bias")),
              q(b, "attn.qkv.weight"), q(b, "attn.qkv.bias"));
            keys[b].push(qkv.subarray(C, 2 * C));
            values[b].push(qkv.subarray(2 * C, 3 * C));
            const y = new Float64Array(C);
            for (let head = 0; head < c.n_head; head++) {
              const o = head * hs;
              const scores = keys[b].map((k) => {
                let dot = 0;
                for (let i = 0; i < hs; i++) dot += qkv[o + i] * k[o + i];
                return dot / Math.sqrt(hs);
              });
              const top = Math.max(...scores);
              const w = scores.map((v) => Math.exp(v - top));
              const total = w.reduce((a, v) => a + v, 0);
              values[b].forEach((v, s) => {
                for (let i = 0; i < hs; i++) y[o + i] += (w[s] / total) * v[o + i];
              });
            }
            const attended = linear(y, q(b, "attn.proj.weight"), q(b, "attn.proj.bias"));
            x = x.map((v, j) => v + attended[j]);
            const hidden = gelu(linear(layernorm(x, q(b, "ln2.weight"), q(b, "ln2.bias")),
              q(b, "fc.weight"), q(b, "fc.bias")));
            const out = linear(hidden, q(b, "fc_out.weight"), q(b, "fc_out.bias"));
            x = x.map((v, j) => v + out[j]);
          }
        },
        logits: () => Array.from(linear(layernorm(x, p["ln_f.weight"], p["ln_f.bias"]),
          p["head.weight"], p["head.bias"])),
      };
    });
  }

  const KINDS = {
    counts, bigram, mlp, wavenet: sequential, rnn: recurrent, gru: recurrent, transformer,
  };

  // a model: its vocabulary, its context length and logits(ids) for a context of that length
  function loadModel(buffer) {
    const exported = parseExport(buffer);
    const { header } = exported;
    const make = KINDS[header.kind];
    if (!make) throw new Error(`a kind of model this page cannot run: ${header.kind}`);
    const made = make(exported);
    const { logits, reader = null } = typeof made === "function" ? { logits: made } : made;
    return { header, vocab: header.vocab, blockSize: header.block_size, logits, reader };
  }

  // the softmax of logits / temperature, the k largest kept (k null: all)
  function probabilities(logits, temperature = 1, topK = null) {
    let scaled = logits.map((v) => v / temperature);
    if (topK !== null && topK < scaled.length) {
      const kth = [...scaled].sort((a, b) => b - a)[topK - 1];
      scaled = scaled.map((v) => (v < kth ? -Infinity : v));
    }
    const top = Math.max(...scaled);
    const e = scaled.map((v) => Math.exp(v - top));
    const total = e.reduce((a, v) => a + v, 0);
    return Array.from(e, (v) => v / total);
  }

  // ---- sampling ----------------------------------------------------------------------------

  // a seeded generator of numbers in [0, 1) (mulberry32): the same seed, the same names
  function generator(seed) {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // what is wrong with the sampler's options, in words for the page; null when nothing is
  function checkOptions(model, { temperature, topK, seed, n, prefix }) {
    if (!(typeof temperature === "number" && Number.isFinite(temperature) && temperature > 0)) {
      return "The temperature must be a number above 0 (1 samples the model as it is).";
    }
    if (temperature > 100) return "A temperature above 100 makes every character equally likely.";
    if (topK !== null && !(Number.isInteger(topK) && topK >= 1)) {
      return "Top-k must be a whole number of at least 1, or left empty for all characters.";
    }
    if (!(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32)) {
      return "The seed must be a whole number from 0 to 4294967295.";
    }
    if (!(Number.isInteger(n) && n >= 1 && n <= 100)) return "Ask for 1 to 100 names.";
    const unknown = [...prefix].filter((ch) => ch === model.vocab[0] || !model.vocab.includes(ch));
    if (unknown.length) {
      return `The model does not know ${JSON.stringify(unknown.join(""))}: it knows only `
        + `${model.vocab.slice(1).join("")}.`;
    }
    return null;
  }

  // the context after a prefix: boundary tokens, then the prefix's last characters
  function contextOf(model, text) {
    const ids = [...text].map((ch) => model.vocab.indexOf(ch));
    return [...new Array(model.blockSize).fill(0), ...ids].slice(-model.blockSize);
  }

  // the first id whose cumulative probability passes u (never one of probability 0)
  function draw(p, u) {
    let cumulative = 0;
    let last = 0;
    for (let id = 0; id < p.length; id++) {
      if (p[id] === 0) continue;
      cumulative += p[id];
      last = id;
      if (u < cumulative) return id;
    }
    return last; // u beyond the rounding of the sum
  }

  // n names, each begun with prefix and drawn one character at a time until "."
  function sampleNames(model, { n = 20, seed = 42, temperature = 1, topK = null, prefix = "",
    maxLen = 50 } = {}) {
    const problem = checkOptions(model, { temperature, topK, seed, n, prefix });
    if (problem) throw new Error(problem);
    const random = generator(seed);
    const names = [];
    for (let i = 0; i < n; i++) {
      let name = prefix;
      // a model that reads a word in order keeps its reader while the word fits its window
      const reader = model.reader && prefix.length < model.blockSize ? model.reader() : null;
      if (reader) {
        for (const id of [0, ...[...prefix].map((ch) => model.vocab.indexOf(ch))]) reader.push(id);
      }
      while (name.length < maxLen) {
        const fits = reader && name.length < model.blockSize;
        const logits = fits ? reader.logits() : model.logits(contextOf(model, name));
        const id = draw(probabilities(logits, temperature, topK), random());
        if (id === 0) break;
        name += model.vocab[id];
        if (fits) reader.push(id);
      }
      names.push(name);
    }
    return names;
  }

  const api = {
    parseExport, loadModel, probabilities, erf, generator, checkOptions, contextOf, sampleNames,
  };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.charlmModels = api;
})(typeof window !== "undefined" ? window : globalThis);
