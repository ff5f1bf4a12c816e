using SmbLayer.Security;
using SmbLayer.Transport;

namespace SmbLayer.Session;

/// <summary>Hands a session's <see cref="Smb2Signer"/> to the transport, which only knows <see cref="IMessageSigner"/>.</summary>
internal sealed class SessionSigner(Smb2Signer signer) : IMessageSigner, IDisposable
{
    public SigningAlgorithm Algorithm => signer.Algorithm;

    public void Sign(Span<byte> message) => signer.Sign(message);

    public bool Verify(Span<byte> message) => signer.Verify(message);

    public void Dispose() => signer.Dispose();
}
