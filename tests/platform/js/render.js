// Test-only renderer: Backstage's scaffolder uses nunjucks with `${{ }}` variable tags and no autoescape.
const nunjucks = require("nunjucks");
let input = "";
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const { template, values } = JSON.parse(input);
  const env = new nunjucks.Environment(null, {
    autoescape: false,
    tags: { variableStart: "${{", variableEnd: "}}" },
  });
  process.stdout.write(env.renderString(template, { values }));
});
