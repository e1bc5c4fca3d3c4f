// The sampler page: pick one of the book's trained models, type the start of a name, and
// sample; the chosen model's next-character probabilities update as you type, with every
// model's most likely next characters beside them. Everything runs in the page, from the
// model files written into the site while the book was built (charlm-models.js reads them).
//
// The page holds <div class="charlm-sampler" data-models="models.json"
// data-names="names.json">; models.json lists {"key", "title", "chapter", "file",
// "trained_on"} ("train": the training split, "all": every name), names.json holds
// {"train": [...], "other": [...]}: the training split's names and the rest of the data set.
// A link "…/sampler.html?model=<key>" or "…/sampler.html#sampler-<key>" (the section of that
// model's static samples) opens the page with that model chosen.
(function () {
  "use strict";
  const M = window.charlmModels;

  function element(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function field(id, label, input, hint) {
    input.id = id;
    const wrap = element("div", { class: "charlm-field" },
      element("label", { for: id, text: label }), input);
    if (hint) {
      const note = element("small", { id: `${id}-hint`, text: hint });
      input.setAttribute("aria-describedby", note.id);
      wrap.append(note);
    }
    return wrap;
  }

  // a number typed in a field, or the reason it is not one
  function readNumber(input, { integer = false, empty = undefined } = {}) {
    const text = input.value.trim();
    if (text === "" && empty !== undefined) return empty;
    const value = Number(text);
    if (text === "" || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
      return { error: `${input.labels[0].textContent}: "${input.value}" is not a ${integer ? "whole " : ""}number.` };
    }
    return value;
  }

  function bars(probabilities, vocab, label) {
    const order = probabilities.map((p, id) => [p, id]).sort((a, b) => b[0] - a[0]);
    const list = element("ol", { class: "charlm-bars", "aria-label": label });
    for (const [p, id] of order) {
      const char = id === 0 ? "end" : vocab[id];
      const item = element("li", {},
        element("span", { class: "charlm-bar-char", text: char }),
        element("span", { class: "charlm-bar", style: `width: ${(100 * p).toFixed(1)}%` }),
        element("span", { class: "charlm-bar-p", text: `${(100 * p).toFixed(1)}%` }));
      list.append(item);
    }
    return list;
  }

  async function start(root) {
    const base = new URL(root.dataset.models, document.baseURI);
    const listing = await (await fetch(base)).json();
    const lists = root.dataset.names
      ? await (await fetch(new URL(root.dataset.names, document.baseURI))).json()
      : { train: [], other: [] };
    const train = new Set(lists.train);
    const other = new Set(lists.other);
    // what a name is to the model that wrote it
    function tag(name, entry) {
      if (train.has(name) || (entry.trained_on === "all" && other.has(name))) {
        return "in its training names";
      }
      return other.has(name) ? "a real name it never saw" : "new";
    }
    const models = {};
    for (const entry of listing) {
      const buffer = await (await fetch(new URL(entry.file, base))).arrayBuffer();
      models[entry.key] = { ...entry, model: M.loadModel(buffer) };
    }
    const wanted = new URLSearchParams(location.search).get("model")
      || (location.hash.startsWith("#sampler-") ? location.hash.slice("#sampler-".length) : null);

    const choose = element("select");
    for (const entry of listing) {
      choose.append(element("option", { value: entry.key,
        text: `${entry.title} (Chapter ${entry.chapter})` }));
    }
    // the model a link asked for, else the last chapter's
    choose.value = wanted && models[wanted] ? wanted : listing[listing.length - 1].key;
    const prefix = element("input", { type: "text", autocomplete: "off", spellcheck: "false" });
    const temperature = element("input", { type: "text", inputmode: "decimal", value: "1" });
    const topK = element("input", { type: "text", inputmode: "numeric", value: "" });
    const seed = element("input", { type: "text", inputmode: "numeric", value: "42" });
    const count = element("input", { type: "text", inputmode: "numeric", value: "20" });
    const go = element("button", { type: "submit", text: "Sample names" });
    const message = element("p", { class: "charlm-message", role: "status", "aria-live": "polite" });
    const results = element("ol", { class: "charlm-names", "aria-label": "sampled names" });
    const timing = element("p", { class: "charlm-timing" });
    const chart = element("div", { class: "charlm-chart" });
    const all = element("div", { class: "charlm-all" });
    const form = element("form", { class: "charlm-form" },
      field("charlm-model", "Model", choose),
      field("charlm-prefix", "Start of the name", prefix, "letters the model continues; empty: a whole name"),
      field("charlm-temperature", "Temperature", temperature, "1: the model as it is; below 1 safer, above 1 bolder"),
      field("charlm-topk", "Top-k", topK, "keep only the k likeliest characters; empty: all"),
      field("charlm-seed", "Seed", seed, "the same seed gives the same names"),
      field("charlm-count", "How many", count),
      go);
    root.replaceChildren(form, message, results, timing,
      element("h3", { text: "What comes next" }), chart,
      element("h3", { text: "Every model, the same start" }), all);

    function options() {
      const values = {
        temperature: readNumber(temperature),
        topK: readNumber(topK, { integer: true, empty: null }),
        seed: readNumber(seed, { integer: true }),
        n: readNumber(count, { integer: true }),
      };
      for (const value of Object.values(values)) if (value && value.error) return value;
      const model = models[choose.value].model;
      const problem = M.checkOptions(model, { ...values, prefix: prefix.value });
      return problem ? { error: problem } : { ...values, prefix: prefix.value };
    }

    function nextCharacters() {
      const model = models[choose.value].model;
      const problem = M.checkOptions(model, { temperature: 1, topK: null, seed: 0, n: 1,
        prefix: prefix.value });
      if (problem) {
        message.textContent = problem;
        return;
      }
      const shown = prefix.value === "" ? "the start of a name" : `"${prefix.value}"`;
      const p = M.probabilities(model.logits(M.contextOf(model, prefix.value)));
      chart.replaceChildren(bars(p, model.vocab, `next character after ${shown}`));
      all.replaceChildren(...listing.map((entry) => {
        const other = models[entry.key].model;
        const q = M.probabilities(other.logits(M.contextOf(other, prefix.value)));
        const top = q.map((v, id) => [v, id]).sort((a, b) => b[0] - a[0]).slice(0, 5)
          .map(([v, id]) => `${id === 0 ? "end" : other.vocab[id]} ${(100 * v).toFixed(0)}%`);
        return element("p", {}, element("strong", { text: `${entry.title}: ` }), top.join(", "));
      }));
    }

    function sample(event) {
      if (event) event.preventDefault();
      const chosen = options();
      if (chosen.error) {
        message.textContent = chosen.error;
        results.replaceChildren();
        return;
      }
      const model = models[choose.value].model;
      const began = performance.now();
      const drawn = M.sampleNames(model, chosen);
      const ms = performance.now() - began;
      message.textContent = "";
      results.replaceChildren(...drawn.map((name) => element("li", {},
        element("span", { class: "charlm-name", text: name === "" ? "(empty)" : name }),
        element("span", { class: "charlm-tag", text: tag(name, models[choose.value]) }))));
      timing.textContent = `${drawn.length} names in ${ms.toFixed(1)} ms`;
      root.dataset.sampleMs = ms.toFixed(3);
    }

    form.addEventListener("submit", sample);
    prefix.addEventListener("input", () => { message.textContent = ""; nextCharacters(); });
    choose.addEventListener("change", () => { nextCharacters(); sample(); });
    nextCharacters();
    sample();
    root.dataset.ready = "true";
  }

  function startAll() {
    for (const root of document.querySelectorAll(".charlm-sampler")) {
      start(root).catch((error) => {
        root.replaceChildren(element("p", { class: "charlm-message", role: "alert",
          text: `The sampler could not start: ${error.message}` }));
        root.dataset.ready = "error";
      });
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", startAll);
  else startAll();
})();
