// The defaults live with the code that reads them; the generators only render them.
export { settings } from '../../functions/shared/settings.ts';
