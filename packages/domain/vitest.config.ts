import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "domain",
    include: ["test/**/*.test.ts"],
    testTimeout: 10000,
    hookTimeout: 10000,
  },
})
