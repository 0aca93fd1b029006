/** How the pages name the adapter's optional features: by their WebGPU feature names. */
import type { AdapterFeatures } from '../engine/gpu/device';

export const FEATURE_NAMES: Record<keyof AdapterFeatures, GPUFeatureName> = {
  shaderF16: 'shader-f16',
  subgroups: 'subgroups',
  timestampQuery: 'timestamp-query',
};

export function featureList(features: AdapterFeatures): { name: GPUFeatureName; available: boolean }[] {
  return (Object.keys(FEATURE_NAMES) as (keyof AdapterFeatures)[]).map((key) => ({ name: FEATURE_NAMES[key], available: features[key] }));
}
