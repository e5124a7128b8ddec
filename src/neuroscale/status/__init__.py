"""Status vocabulary shared by the control plane and every reader of it.

Conditions (KServe's `Ready`/`PredictorReady`/`IngressReady`), sync and health
(Argo CD's words), events and the one reason catalogue. Pure data: no I/O, so
the CLI, portal, gateway and doctor can all import it cheaply.
"""
