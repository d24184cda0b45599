// Jest through next/jest (SWC transform, the same compiler as `next build`). web-ci.yml runs `npm test`
// (jest --ci --coverage) before the build; the thresholds below fail the job when coverage drops.
const nextJest = require("next/jest");

const createJestConfig = nextJest({ dir: "./" });

module.exports = createJestConfig({
  testEnvironment: "jsdom",
  collectCoverageFrom: ["components/**/*.{js,jsx,ts,tsx}"],
  coverageThreshold: { global: { branches: 80, functions: 80, lines: 80, statements: 80 } },
  coverageReporters: ["text-summary", "lcov", "cobertura"],
  coverageDirectory: "reports/coverage",
  reporters: ["default", ["jest-junit", { outputDirectory: "reports", outputName: "junit.xml", addFileAttribute: "true" }]],
});
