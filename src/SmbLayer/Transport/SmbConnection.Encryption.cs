using System.Collections.Concurrent;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

// SMB 3 encryption keys of the connection's sessions (the link's reader asks for them by SessionId to decrypt a
// TRANSFORM frame) and whether VALIDATE_NEGOTIATE_INFO has run.
internal sealed partial class SmbConnection
{
    private readonly ConcurrentDictionary<ulong, IMessageTransform> _transforms = new();
    private int _negotiateValidated;

    /// <summary>Makes TRANSFORM frames for <paramref name="transform"/>'s session decryptable.</summary>
    public void RegisterTransform(IMessageTransform transform) => _transforms[transform.SessionId] = transform;

    /// <summary>Forgets a session's transform (after LOGOFF).</summary>
    public void UnregisterTransform(IMessageTransform transform) =>
        _transforms.TryRemove(new KeyValuePair<ulong, IMessageTransform>(transform.SessionId, transform));

    /// <summary>
    /// True once FSCTL_VALIDATE_NEGOTIATE_INFO succeeded (3.0/3.0.2); set by the session layer.
    /// Only the first caller of <see cref="TryBeginNegotiateValidation"/> runs it. It holds across reconnects because
    /// a reconnect's NEGOTIATE must settle the same values the validation compared (<see cref="Negotiation.Settle"/>).
    /// </summary>
    public bool NegotiateValidated => Volatile.Read(ref _negotiateValidated) == 2;

    /// <summary>Claims the one validation of this connection; false when another caller already did.</summary>
    public bool TryBeginNegotiateValidation() => Interlocked.CompareExchange(ref _negotiateValidated, 1, 0) == 0;

    /// <summary>Records the outcome: success marks the connection validated; failure lets the next tree try again.</summary>
    public void EndNegotiateValidation(bool succeeded) => Volatile.Write(ref _negotiateValidated, succeeded ? 2 : 0);

    IMessageTransform? ILinkOwner.TransformFor(ulong sessionId) => _transforms.GetValueOrDefault(sessionId);
}
