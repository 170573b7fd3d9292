import { defineConfig } from 'tsdown';
import { packageConfig } from '../../tsdown.shared.ts';

export default defineConfig(packageConfig({ entry: { index: 'src/index.ts' }, platform: 'neutral' }));
