/**
 * axe-core's accessibility rules (WCAG 2 A/AA and best practices: names, labels, roles, contrast, focus order…) run
 * on a page as it is now, in the light and the dark colour scheme (lib/ui.css has both); each violation as
 * "rule: what it asks (elements)".
 */
import AxeBuilder from '@axe-core/playwright';
import type { Page } from 'playwright-core';

export async function accessibilityViolations(page: Page): Promise<string[]> {
  const found: string[] = [];
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    const { violations } = await new AxeBuilder({ page }).analyze();
    for (const v of violations) found.push(`${colorScheme}: ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  }
  await page.emulateMedia({ colorScheme: null });
  return found;
}
