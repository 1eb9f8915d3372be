/** Deterministic synthetic CAS definitions for benchmarks. */

/** A seeded PRNG, so every run writes the same files (its own entry point: no test runner needed). */
export { prng } from '@regsync/core/testing/prng'

/** The file name CAS would compute for a definition. */
export function fileName(id: number): string {
  return `App${id}-${id}.json`
}

/** A definition of about 2 KB, shaped like the corpus: nested policies, arrays, a class per object. */
export function definition(id: number, description = `Service number ${id}`): string {
  const attributes = Array.from({ length: 12 }, (_, i) => `"attribute${i}"`).join(', ')
  return `{
  "@class" : "org.apereo.cas.services.CasRegisteredService",
  "serviceId" : "^https://app${id}\\\\.example\\\\.org(:443)?/.*",
  "name" : "App${id}",
  "id" : ${id},
  "description" : ${JSON.stringify(description)},
  "evaluationOrder" : ${id % 1000},
  "logoutType" : "BACK_CHANNEL",
  "logoutUrl" : "https://app${id}.example.org/logout",
  "theme" : "example",
  "informationUrl" : "https://app${id}.example.org/info",
  "privacyUrl" : "https://app${id}.example.org/privacy",
  "attributeReleasePolicy" : {
    "@class" : "org.apereo.cas.services.ReturnAllowedAttributeReleasePolicy",
    "allowedAttributes" : [ "java.util.ArrayList", [ ${attributes} ] ],
    "authorizedToReleaseCredentialPassword" : false,
    "authorizedToReleaseProxyGrantingTicket" : false
  },
  "accessStrategy" : {
    "@class" : "org.apereo.cas.services.DefaultRegisteredServiceAccessStrategy",
    "enabled" : true,
    "ssoEnabled" : true,
    "requiredAttributes" : {
      "@class" : "java.util.HashMap",
      "memberOf" : [ "java.util.HashSet", [ "cn=app${id},ou=groups,dc=example,dc=org", "cn=admins,ou=groups,dc=example,dc=org" ] ]
    }
  },
  "multifactorPolicy" : {
    "@class" : "org.apereo.cas.services.DefaultRegisteredServiceMultifactorPolicy",
    "multifactorAuthenticationProviders" : [ "java.util.LinkedHashSet", [ "mfa-duo" ] ],
    "bypassEnabled" : false
  },
  "contacts" : [ "java.util.ArrayList", [ {
    "@class" : "org.apereo.cas.services.DefaultRegisteredServiceContact",
    "name" : "Owner of app ${id}",
    "email" : "owner${id}@example.org",
    "phone" : "+1 555 ${String(id).padStart(4, '0')}",
    "department" : "Information Technology"
  } ] ],
  "properties" : {
    "@class" : "java.util.HashMap",
    "httpHeaderEnableXFrameOptions" : {
      "@class" : "org.apereo.cas.services.DefaultRegisteredServiceProperty",
      "values" : [ "java.util.HashSet", [ "true" ] ]
    }
  }
}
`
}
