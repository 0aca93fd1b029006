import { defineConfig } from 'vitest/config';

// End-to-end tests drive the built extension (.output/chrome-mv3, made by `wxt build`) in Debian's Chromium.
export default defineConfig({
  test: {
    include: ['tests/e2e/**/*.test.ts'],
    fileParallelism: false,
    // SwiftShader compiles the engine's pipelines on the CPU: the first status takes seconds on a busy machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
