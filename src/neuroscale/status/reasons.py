"""The reason catalogue: every CamelCase reason a condition or event may carry.

One list so that the CLI, the portal and the doctor can match on reasons
without guessing spellings, and so a new reason is a reviewed addition here.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a condition has its status, or what an event records."""

    # source and admission
    Deployed = "Deployed"
    AdmissionDenied = "AdmissionDenied"
    InvalidManifest = "InvalidManifest"
    SourceUnavailable = "SourceUnavailable"
    # revisions and processes
    RevisionCreated = "RevisionCreated"
    RevisionStarting = "RevisionStarting"
    RevisionReady = "RevisionReady"
    RevisionAdopted = "RevisionAdopted"
    RevisionRetired = "RevisionRetired"
    ModelLoadFailed = "ModelLoadFailed"
    PortUnavailable = "PortUnavailable"
    KilledBySignal = "KilledBySignal"
    StartupTimeout = "StartupTimeout"
    ProcessExited = "ProcessExited"
    Restarted = "Restarted"
    LivenessProbeFailed = "LivenessProbeFailed"
    CrashLoopBackOff = "CrashLoopBackOff"
    OrphanKilled = "OrphanKilled"
    OOMKilled = "OOMKilled"
    Scaled = "Scaled"
    ScaledToZero = "ScaledToZero"
    # traffic
    TrafficSwitched = "TrafficSwitched"
    RouteReady = "RouteReady"
    RouteNotReady = "RouteNotReady"
    # lifecycle
    PlatformStopped = "PlatformStopped"
    ReconcilerNotObserving = "ReconcilerNotObserving"
    RoutesRewritten = "RoutesRewritten"
    Pruned = "Pruned"
    PendingRevision = "PendingRevision"
    PreviousRevisionServing = "PreviousRevisionServing"
    CanaryServing = "CanaryServing"
    ModelUnloaded = "ModelUnloaded"  # an admin unloaded it through the gateway's model repository extension
    ModelLoaded = "ModelLoaded"
    # what the embedded engine acts on
    FieldsHonoured = "FieldsHonoured"
    FieldsNotHonoured = "FieldsNotHonoured"
    # audit: who changed what (events carry the actor)
    PullRequestOpened = "PullRequestOpened"
    PullRequestUpdated = "PullRequestUpdated"
    PullRequestApproved = "PullRequestApproved"
    PullRequestMerged = "PullRequestMerged"
    PullRequestClosed = "PullRequestClosed"
    UserAdded = "UserAdded"
    UserRemoved = "UserRemoved"
    ReviewRulesChanged = "ReviewRulesChanged"
    ApiKeyCreated = "ApiKeyCreated"
    ApiKeyRevoked = "ApiKeyRevoked"


#: Reasons that mean "something is wrong and will not heal on its own or is backing off".
FAILURE_REASONS: frozenset[Reason] = frozenset({
    Reason.AdmissionDenied,
    Reason.InvalidManifest,
    Reason.SourceUnavailable,
    Reason.ModelLoadFailed,
    Reason.StartupTimeout,
    Reason.CrashLoopBackOff,
    Reason.OOMKilled,
})
