// The portal's only entry script, loaded as <script type="module" src="/portal/assets/portal.js">.
// Every page works without it; it only enhances. There is no inline script: the Content-Security-Policy forbids it.
import { initAll as initGovukFrontend } from './govuk-frontend.min.js'
import { initTimeoutWarnings } from './timeout-warning.js'

// GOV.UK Frontend's page template adds these classes with an inline script; a module script runs only in the
// browsers GOV.UK Frontend supports, so setting both here is the same test without the inline script.
document.body.classList.add('js-enabled', 'govuk-frontend-supported')

initGovukFrontend()
initTimeoutWarnings()

// MOJ Frontend is optional: tools/frontend/build.sh copies it only when the package ships it, and a page must
// never lose GOV.UK Frontend's behaviour because it is missing.
try {
  const mojFrontend = await import('./moj-frontend.min.js')
  mojFrontend.initAll()
} catch (error) {
  console.warn('MOJ Frontend not initialised', error)
}
