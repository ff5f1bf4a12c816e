using System.Buffers;
using System.Collections.Concurrent;
using SmbLayer.Protocol;
using SmbLayer.Security;

namespace SmbLayer.Transport;

// SMB 3 encryption and negotiation integrity state of the connection, kept apart from the loops:
// the writer calls SerializeEncrypted for a frame whose requests carry a transform, and the reader
// calls DecryptFrame for a TRANSFORM frame before handling the plaintext as usual.
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
    /// Only the first caller of <see cref="TryBeginNegotiateValidation"/> runs it.
    /// </summary>
    public bool NegotiateValidated => Volatile.Read(ref _negotiateValidated) == 2;

    /// <summary>Claims the one validation of this connection; false when another caller already did.</summary>
    public bool TryBeginNegotiateValidation() => Interlocked.CompareExchange(ref _negotiateValidated, 1, 0) == 0;

    /// <summary>Records the outcome: success marks the connection validated; failure lets the next tree try again.</summary>
    public void EndNegotiateValidation(bool succeeded) => Volatile.Write(ref _negotiateValidated, succeeded ? 2 : 0);

    /// <summary>The transform a frame goes out under, or null for plaintext.</summary>
    private static IMessageTransform? TransformOf(OutgoingItem item) =>
        item.Members is { } members ? members[0].Context.Transform : item.CancelTarget!.Context.Transform;

    /// <summary>Serialises the frame's messages into a pooled buffer and encrypts them as one unit after the Direct TCP header.</summary>
    private void SerializeEncrypted(OutgoingItem item, IMessageTransform transform, Span<byte> messages)
    {
        var plainLength = messages.Length - transform.Overhead;
        var plain = ArrayPool<byte>.Shared.Rent(plainLength);
        try
        {
            SerializeMessages(item, plain.AsSpan(0, plainLength));
            transform.Encrypt(plain.AsSpan(0, plainLength), messages);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(plain, clearArray: true);
        }
    }

    /// <summary>
    /// Decrypts a TRANSFORM frame (MS-SMB2 §3.2.5.1.1.1): the SessionId picks the session's keys, the
    /// tag is checked, and the plaintext comes back in a new pooled buffer. Takes ownership of
    /// <paramref name="frame"/> (returned to the pool) and returns the plaintext's buffer and length.
    /// </summary>
    private (byte[] Plain, int Length, ulong SessionId) DecryptFrame(byte[] frame, int length)
    {
        try
        {
            var span = frame.AsSpan(0, length);
            var header = Smb2TransformHeader.ReadFrom(span);
            if (!_transforms.TryGetValue(header.SessionId, out var transform))
            {
                throw new SmbProtocolException(
                    $"Received an encrypted (TRANSFORM) message for session 0x{header.SessionId:X}, which has no encryption keys on this connection.");
            }
            var plainLength = length - Smb2TransformHeader.Size;
            if (header.OriginalMessageSize != (uint)plainLength)
            {
                throw new SmbProtocolException(
                    $"TRANSFORM OriginalMessageSize {header.OriginalMessageSize} does not match the {plainLength} encrypted bytes in the frame.");
            }
            if (plainLength < _family.MinimumMessageSize)
            {
                throw new SmbProtocolException($"Encrypted message of {plainLength} bytes is shorter than the minimum of {_family.MinimumMessageSize}.");
            }
            var plain = ArrayPool<byte>.Shared.Rent(plainLength);
            try
            {
                transform.Decrypt(span, plain.AsSpan(0, plainLength));
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(plain);
                throw;
            }
            return (plain, plainLength, header.SessionId);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    /// <summary>
    /// Checks one message against how its frame arrived: a decrypted message must belong to the session
    /// whose key decrypted it; a final response to an encrypted request must itself have been encrypted
    /// (a plaintext answer could have been forged or replayed by anyone on the path).
    /// </summary>
    private static string? EncryptionViolation(in IncomingMessageInfo info, ReadOnlySpan<byte> message, PendingRequest pending, ulong? decryptedFor)
    {
        if (decryptedFor is { } sessionId)
        {
            var messageSession = Smb2Header.ReadFrom(message).SessionId;
            return messageSession == sessionId
                ? null
                : $"Encrypted response to {pending.Body.Command} (MessageId {info.MessageId}) names session 0x{messageSession:X}, but was encrypted for 0x{sessionId:X}.";
        }
        return pending.Context.Transform is not null
            ? $"Unencrypted response to the encrypted {pending.Body.Command} request (MessageId {info.MessageId})."
            : null;
    }
}
