// Fills an XForm with the ODK Web Forms engine (@getodk/xforms-engine, headless) and reports the
// resulting state. Same request/response contract as ../javarosa/Harness.java:
//
// stdin:  {"xform": "<h:html ...>", "language": "English (en)" | null,
//          "answers": [{"name": "q1", "value": "yes"}, {"name": "q2", "values": ["a", "b"]}]}
// stdout: {"engine": "odk-web-forms", "language": "...",
//          "nodes": {"<name>": {"value", "relevant", "type", "label"}},
//          "violations": [{"name", "condition", "message"}],
//          "errors": [{"name", "message"}], "instance_xml": "<data ...>"}
//
// Answers are applied in order. One that cannot be applied (unknown name, non-relevant or
// read-only node, value outside the choice list, value the engine does not accept) is reported in
// "errors" and skipped: the engine itself would silently ignore or blank most of these.
// "value" is the node's value as serialized (select_multiple: codes space-separated, in choice-list
// order), and "" for a non-relevant node (the engine blanks those itself).
// A form that cannot be loaded makes the script exit with status 2 and a message on stderr.

import path from 'node:path';
import { createRequire } from 'node:module';
import { JSDOM } from 'jsdom';

// The engine expects a browser: give it jsdom's DOM and the CommonJS __dirname it probes for.
const dom = new JSDOM('<!doctype html><html><body></body></html>');
for (const key of ['DOMParser', 'XMLSerializer', 'Node', 'Element', 'Document', 'XPathResult', 'document', 'NodeFilter']) {
  if (!(key in globalThis)) globalThis[key] = dom.window[key];
}
globalThis.__dirname = path.dirname(createRequire(import.meta.url).resolve('@getodk/xforms-engine'));

// Keep stdout for the one JSON response, whatever the engine logs.
const writeResponse = (text) => process.stdout.write(text);
console.log = console.info = console.debug = console.warn = (...args) => console.error(...args);

const { createInstance } = await import('@getodk/xforms-engine');

class HarnessFailure extends Error {}

// XLSForm-flavoured kinds of node; the JavaRosa harness uses the same vocabulary.
const TYPE_BY_VALUE_TYPE = {
  string: 'text',
  int: 'integer',
  decimal: 'decimal',
  date: 'date',
  time: 'time',
  dateTime: 'dateTime',
  boolean: 'boolean',
  geopoint: 'geopoint',
  geoshape: 'geoshape',
  geotrace: 'geotrace',
  barcode: 'barcode',
  binary: 'binary',
  intent: 'intent',
};

const NUMBER_PATTERNS = {
  int: /^[+-]?\d+$/,
  decimal: /^[+-]?(\d+\.?\d*|\.\d+)$/,
};

const nameOf = (node) => node.definition.qualifiedName?.localName ?? node.currentState.reference.split('/').pop();

function typeOf(node) {
  switch (node.nodeType) {
    case 'group':
      return 'group';
    case 'select':
      return node.selectType === 'select1' ? 'select_one' : 'select_multiple';
    case 'note':
      return 'note';
    case 'model-value':
      return node.definition.bind.calculate ? 'calculate' : 'hidden';
    case 'input':
      return TYPE_BY_VALUE_TYPE[node.valueType] ?? node.valueType;
    default:
      return node.nodeType; // trigger, range, rank, upload
  }
}

/** Every node below the root, in document order, keyed by its (unique) name. */
function indexNodes(root) {
  const byName = new Map();
  const visit = (node) => {
    for (const child of node.currentState.children ?? []) {
      if (child.nodeType.startsWith('repeat')) {
        throw new HarnessFailure(`node '${nameOf(child)}' is a repeat; the harness addresses nodes by unique name and does not fill repeats`);
      }
      if (child.nodeType === 'attribute') continue;
      const name = nameOf(child);
      if (byName.has(name)) {
        throw new HarnessFailure(`node name '${name}' occurs twice; the harness needs unique node names`);
      }
      byName.set(name, child);
      visit(child);
    }
  };
  visit(root);
  return byName;
}

function answerValues(answer) {
  if (Array.isArray(answer.values)) return answer.values.map(String);
  if (answer.value === undefined || answer.value === null) return [];
  return [String(answer.value)];
}

/** Applies one answer; returns an error message, or null when the engine took it. */
function applyAnswer(node, answer) {
  if (!['input', 'select', 'note'].includes(node.nodeType)) {
    return `is not a question the harness can answer (${typeOf(node)})`;
  }
  if (node.nodeType === 'note' || node.currentState.readonly) {
    return `is read-only (${typeOf(node)}); it cannot be answered`;
  }
  if (!node.currentState.relevant) {
    return "is not relevant (hidden by its relevance or a parent group's); answer not applied";
  }
  const values = answerValues(answer);
  if (node.nodeType === 'select') {
    const codes = values.flatMap((value) => value.trim().split(/\s+/)).filter((code) => code !== '');
    const offered = node.currentState.valueOptions.map((option) => option.value);
    const unknown = codes.find((code) => !offered.includes(code));
    if (unknown !== undefined) {
      return `value '${unknown}' is not among the offered choices [${offered.join(', ')}]`;
    }
    if (node.selectType === 'select1') {
      if (codes.length > 1) return `select_one takes one value, got [${codes.join(', ')}]`;
      node.selectValue(codes[0] ?? null);
    } else {
      node.selectValues(codes);
    }
    return null;
  }
  if (values.length > 1) return `takes one value, got [${values.join(', ')}]`;
  const text = values[0] ?? '';
  // The engine truncates '7.5' to an integer 7; JavaRosa (and a user's keypad) refuses it.
  const pattern = NUMBER_PATTERNS[node.valueType];
  if (text !== '' && pattern && !pattern.test(text)) {
    return `value '${text}' is not a valid ${typeOf(node)}`;
  }
  const previous = node.currentState.instanceValue;
  node.setValue(text);
  if (text !== '' && node.currentState.instanceValue === '') {
    node.setValue(previous);
    return `value '${text}' is not a valid ${typeOf(node)}`;
  }
  return null;
}

function describe(node) {
  const state = node.currentState;
  const isLeaf = state.children == null;
  const label = state.label?.asString;
  return {
    value: isLeaf ? String(state.instanceValue ?? '') : '',
    relevant: Boolean(state.relevant),
    type: typeOf(node),
    // Labels are display text; pyxform pads <output> labels with spaces that HTML collapses.
    label: label == null ? null : label.trim(),
  };
}

function violationOf(name, node) {
  if (!node.currentState.relevant || node.currentState.children != null) return null;
  const violation = node.validationState?.violation;
  if (!violation) return null;
  return { name, condition: violation.condition, message: violation.message?.asString ?? '' };
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function fill(request) {
  if (typeof request?.xform !== 'string') {
    throw new HarnessFailure('request must be a JSON object with an "xform" string');
  }
  let instance;
  try {
    instance = await createInstance(request.xform);
  } catch (error) {
    throw new HarnessFailure(`ODK Web Forms could not load the form: ${error.message}`);
  }
  const root = instance.root;
  if (request.language != null) {
    const language = root.languages.find((candidate) => candidate.language === request.language);
    if (!language) {
      const available = root.languages.map((candidate) => candidate.language).filter(Boolean);
      throw new HarnessFailure(`language '${request.language}' is not in the form; it has [${available.join(', ')}]`);
    }
    root.setLanguage(language);
  }
  const byName = indexNodes(root);
  const errors = [];
  for (const answer of request.answers ?? []) {
    const name = String(answer.name ?? '');
    const node = byName.get(name);
    let message;
    try {
      message = node ? applyAnswer(node, answer) : `no node named '${name}' in the form`;
    } catch (error) {
      message = `the engine rejected the answer: ${error.message}`;
    }
    if (message) errors.push({ name, message });
  }
  const nodes = {};
  const violations = [];
  for (const [name, node] of byName) {
    nodes[name] = describe(node);
    const violation = violationOf(name, node);
    if (violation) violations.push(violation);
  }
  return {
    engine: 'odk-web-forms',
    language: root.currentState.activeLanguage.language || null,
    nodes,
    violations,
    errors,
    instance_xml: root.instanceState.instanceXML,
  };
}

try {
  const response = await fill(JSON.parse(await readStdin()));
  writeResponse(`${JSON.stringify(response)}\n`);
} catch (error) {
  const message = error instanceof HarnessFailure || error instanceof SyntaxError ? error.message : error.stack;
  process.stderr.write(`odk-web-forms harness: ${message}\n`);
  process.exitCode = 2;
}
