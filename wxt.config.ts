import { defineConfig } from 'wxt';
import preact from '@preact/preset-vite';

export default defineConfig({
  modules: ['@wxt-dev/webextension-polyfill'],
  manifestVersion: 3,
  // Error classes travel between contexts by name (`WebGPUNotFoundError`…): keep names through minification.
  vite: () => ({ plugins: [preact()], esbuild: { keepNames: true } }),
  manifest: {
    name: 'Local Diffusion',
    description: 'Generate images with Stable Diffusion on your own GPU. Nothing leaves your machine.',
    permissions: ['offscreen', 'contextMenus', 'storage', 'unlimitedStorage'],
    host_permissions: ['https://huggingface.co/*', 'https://*.hf.co/*'],
  },
});
