// Run the ORIGINAL MoveNet SinglePose graphs (TensorFlow.js, as shipped) on RGB crops, in Node.
//
//   node scripts/movenet_tfjs.mjs --model thunder|lightning --crops CROPS.u8 --out OUT.json
//                                 [--backend wasm|cpu] [--pretrained DIR] [--node-modules DIR]
//
// The reference runtime for the PyTorch port's parity fixture and figures
// (scripts/movenet_reference.py drives it; docs/movenet.md). Node is needed only for that:
// never by the tests or the app.
//
// Model: ../shared/pretrained/pose/movenet-{thunder,lightning}.json + .bin (a tfjs graph model;
// see ../shared/pretrained/README.md, section "MoveNet"), checked against its SHA-256 first.
// Runtime: @tensorflow/tfjs@4 and @tensorflow/tfjs-backend-wasm@4 from npm, installed outside
// git:   npm install --prefix .node @tensorflow/tfjs@4 @tensorflow/tfjs-backend-wasm@4
// (--node-modules names another prefix; default <repo>/.node). Nothing is downloaded at run
// time: the model is given to tf.loadGraphModel by an io handler, the wasm binary is the one
// bundled in the npm package. If the wasm backend cannot start, the cpu backend is used and
// the output says so ("backend").
//
// CROPS.u8: N crops of S x S x 3 RGB uint8, row-major (N, S, S, 3), nothing else (S: 256 for
// Thunder, 192 for Lightning; N = file size / (S*S*3)). Each runs as an int32 tensor
// [1, S, S, 3] holding 0..255.
// OUT.json (written to a temporary name, then renamed): {"model", "size", "backend",
// "tfjs_version", "sha256": {"json", "bin"}, "count", "outputs": N x 17 x 3 [y, x, score]}
// with y and x in [0, 1] of the input (COCO keypoint order), as the graph gives them.
import { createHash } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MODELS = {
  thunder: {
    size: 256,
    json: "7ac4e2a8449fc279f71b8b0ba52f7c5daafc124ce9b6bf7549289ca432e342b6",
    bin: "a2925747fccaf737c0f20eacdeff919efd5d514e90242397002a0de349dff18c",
  },
  lightning: {
    size: 192,
    json: "df8cbde44d00f533ccc4916a7c6ebc17316532fb3fadad114ec667fef22872e9",
    bin: "bf97bc10d9c8a11200b0190ed64ce039b6252f1aff7cb552aca99b3d191c2f34",
  },
};

function fail(msg) {
  process.stderr.write(`error: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const args = {
    backend: "wasm",
    pretrained: path.join(ROOT, "..", "shared", "pretrained", "pose"),
    "node-modules": path.join(ROOT, ".node"),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") {
      process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), "utf8")
        .split("\n").filter((l) => l.startsWith("//")).map((l) => l.slice(3)).join("\n") + "\n");
      process.exit(0);
    }
    if (!a.startsWith("--") || i + 1 >= argv.length) fail(`unexpected argument ${a} (see --help)`);
    args[a.slice(2)] = argv[++i];
  }
  for (const k of ["model", "crops", "out"]) if (!args[k]) fail(`--${k} is required (see --help)`);
  if (!MODELS[args.model]) fail(`--model must be thunder or lightning, got ${args.model}`);
  if (!["wasm", "cpu"].includes(args.backend)) fail(`--backend must be wasm or cpu, got ${args.backend}`);
  return args;
}

function sha256(buf) {
  return createHash("sha256").update(buf).digest("hex");
}

function readChecked(file, expected) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    fail(`cannot read ${file}: ${e.message}`);
  }
  const got = sha256(buf);
  if (got !== expected) fail(`${file}: sha256 ${got}, expected ${expected} (a damaged or replaced model file)`);
  return buf;
}

async function startBackend(tf, wanted, req) {
  if (wanted === "wasm") {
    try {
      const wasm = req("@tensorflow/tfjs-backend-wasm");
      const dist = path.dirname(req.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm"));
      wasm.setWasmPaths(dist + path.sep); // the bundled binaries, read from disk
      if (await tf.setBackend("wasm")) {
        await tf.ready();
        return "wasm";
      }
      process.stderr.write("warning: the wasm backend did not start; using the cpu backend\n");
    } catch (e) {
      process.stderr.write(`warning: the wasm backend failed (${e.message}); using the cpu backend\n`);
    }
  }
  await tf.setBackend("cpu");
  await tf.ready();
  return "cpu";
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const spec = MODELS[args.model];
  const S = spec.size;
  const base = path.join(args.pretrained, `movenet-${args.model}`);
  const jsonBuf = readChecked(`${base}.json`, spec.json);
  const binBuf = readChecked(`${base}.bin`, spec.bin);
  const crops = fs.readFileSync(args.crops);
  const per = S * S * 3;
  if (crops.length === 0 || crops.length % per !== 0) {
    fail(`${args.crops}: ${crops.length} bytes is not a whole number of ${S}x${S}x3 crops`);
  }
  const n = crops.length / per;

  const req = createRequire(pathToFileURL(path.join(path.resolve(args["node-modules"]), "package.json")));
  let tf;
  try {
    tf = req("@tensorflow/tfjs");
  } catch (e) {
    fail(`@tensorflow/tfjs not found under ${args["node-modules"]} (npm install --prefix .node ` +
         `@tensorflow/tfjs@4 @tensorflow/tfjs-backend-wasm@4): ${e.message}`);
  }
  const backend = await startBackend(tf, args.backend, req);

  const manifest = JSON.parse(jsonBuf.toString("utf8"));
  const handler = {
    load: async () => ({
      modelTopology: manifest.modelTopology,
      weightSpecs: manifest.weightsManifest[0].weights,
      weightData: binBuf.buffer.slice(binBuf.byteOffset, binBuf.byteOffset + binBuf.byteLength),
      format: manifest.format,
      generatedBy: manifest.generatedBy,
      convertedBy: manifest.convertedBy,
      signature: manifest.signature,
    }),
  };
  const model = await tf.loadGraphModel(handler);

  const outputs = [];
  const t0 = Date.now();
  for (let i = 0; i < n; i++) {
    const pixels = new Int32Array(per);
    for (let j = 0; j < per; j++) pixels[j] = crops[i * per + j];
    const x = tf.tensor(pixels, [1, S, S, 3], "int32");
    const y = model.execute(x);
    const out = Array.isArray(y) ? y[0] : y;
    if (out.shape.join("x") !== "1x1x17x3") fail(`unexpected output shape ${out.shape}`);
    const v = await out.data();
    const rows = [];
    for (let k = 0; k < 17; k++) rows.push([v[3 * k], v[3 * k + 1], v[3 * k + 2]]);
    outputs.push(rows);
    tf.dispose([x, y]);
    if (n >= 20 && (i + 1) % 50 === 0) {
      process.stderr.write(`${args.model}: ${i + 1}/${n} crops, ${((Date.now() - t0) / (i + 1)).toFixed(0)} ms/crop\n`);
    }
  }
  const result = {
    model: `movenet-${args.model}`,
    size: S,
    backend,
    tfjs_version: tf.version.tfjs,
    sha256: { json: spec.json, bin: spec.bin },
    count: n,
    ms_per_crop: Math.round((Date.now() - t0) / n),
    outputs,
  };
  const tmp = `${args.out}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(result));
  fs.renameSync(tmp, args.out);
  process.stderr.write(`${args.model}: ${n} crops on the ${backend} backend, ${result.ms_per_crop} ms/crop -> ${args.out}\n`);
}

main().catch((e) => fail(e.stack || String(e)));
