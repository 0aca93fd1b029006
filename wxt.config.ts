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
    permissions: ['offscreen', 'contextMenus', 'notifications', 'storage', 'unlimitedStorage'],
    host_permissions: ['https://huggingface.co/*', 'https://*.hf.co/*'],
    // The shortcut that opens the popup; people can change it at chrome://extensions/shortcuts.
    commands: {
      _execute_action: { suggested_key: { default: 'Alt+Shift+G', mac: 'Alt+Shift+G' }, description: 'Open Local Diffusion' },
    },
  },
});
