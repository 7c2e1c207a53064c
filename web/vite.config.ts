/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The panel is embedded into the gantry binary and served under a strict
// Content-Security-Policy (script-src 'self'; style-src 'self'), so the build
// must not emit any inline <script> or <style>. `modulePreload.polyfill` would
// inject an inline script into index.html, hence it is off.
const target = process.env.GANTRY_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    sourcemap: false,
  },
  server: {
    proxy: {
      "/api": { target, changeOrigin: false },
    },
  },
  preview: {
    proxy: {
      "/api": { target, changeOrigin: false },
    },
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    // Component tests drive many user-event steps in jsdom; on a busy 2-core CI machine
    // the 5 s default fails tests that are merely slow.
    testTimeout: 30_000,
    css: false,
  },
});
