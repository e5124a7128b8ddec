// Test-only: validates generated objects with the upstream validators their consumers run.
// stdin: [{"validator": "backstage-template" | "knative-serving", "object": {...}}, ...]
// stdout: one list of error messages per input object (empty when valid).
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { templateEntityV1beta3Validator } = require("@backstage/plugin-scaffolder-common");
const { KnativeServing } = await import("@kubernetes-models/knative/operator.knative.dev/v1beta1/KnativeServing");

async function errorsOf({ validator, object }) {
  try {
    if (validator === "backstage-template") {
      // The catalog's own check: resolves false for another kind, throws on an invalid Template.
      if (!(await templateEntityV1beta3Validator.check(object))) return ["not a scaffolder.backstage.io/v1beta3 Template"];
    } else if (validator === "knative-serving") {
      new KnativeServing(object).validate();
    } else {
      return [`unknown validator ${validator}`];
    }
    return [];
  } catch (error) {
    return [String(error.message || error)];
  }
}

let input = "";
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", async () => {
  const results = await Promise.all(JSON.parse(input).map(errorsOf));
  process.stdout.write(JSON.stringify(results));
});
