using SmbLayer.Security;
using SmbLayer.Transport;

namespace SmbLayer.Session;

/// <summary>Hands a session's <see cref="Smb3Cipher"/> to the transport, which only knows <see cref="IMessageTransform"/>.</summary>
internal sealed class SessionTransform(ulong sessionId, Smb3Cipher cipher) : IMessageTransform, IDisposable
{
    public ulong SessionId { get; } = sessionId;

    public Protocol.CipherId Cipher => cipher.Cipher;

    public int Overhead => Smb3Cipher.Overhead;

    public void Encrypt(ReadOnlySpan<byte> plaintext, Span<byte> destination) => cipher.Encrypt(SessionId, plaintext, destination);

    public void Decrypt(ReadOnlySpan<byte> message, Span<byte> plaintext) => cipher.Decrypt(message, plaintext);

    public void Dispose() => cipher.Dispose();

    public override string ToString() => $"SessionTransform(0x{SessionId:X}, {cipher.Cipher})";
}
