// Usage: node validate.js SCHEMA.json RECORD.json...
// Compiles the schema with ajv in strict mode (every strict option on, union
// types allowed as draft-07 defines them), then validates each record.
// Exit 0 when it compiles and every record is valid; 1 with the errors.
const fs = require("fs");
const Ajv = require("ajv");
const addFormats = require("ajv-formats");

const [schemaPath, ...records] = process.argv.slice(2);
const ajv = new Ajv({ strict: true, allowUnionTypes: true, allErrors: true });
addFormats(ajv);
let validate;
try {
  validate = ajv.compile(JSON.parse(fs.readFileSync(schemaPath, "utf8")));
} catch (e) {
  console.error(`schema does not compile: ${e.message}`);
  process.exit(1);
}
let failed = false;
for (const path of records) {
  if (!validate(JSON.parse(fs.readFileSync(path, "utf8")))) {
    failed = true;
    console.error(`${path}: ${ajv.errorsText(validate.errors)}`);
  }
}
process.exit(failed ? 1 : 0);
