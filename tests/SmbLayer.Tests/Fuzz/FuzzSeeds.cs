using SmbLayer.Protocol;
using SmbLayer.Security;
using SmbLayer.Tests.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Fuzz;

/// <summary>
/// One valid server message and what the client does with it: the parsing of the session layer and the
/// security code that consumes its fields. The fuzzer feeds mutations of <see cref="Message"/> to <see cref="Consume"/>.
/// </summary>
internal sealed record FuzzSeed(string Name, byte[] Message, Action<byte[]> Consume)
{
    public Smb2Command Command => Smb2Header.ReadFrom(Message).Command;
}

/// <summary>
/// Valid responses for every message type a server sends, from the codec tests' Samba captures and
/// hand-built layouts (<see cref="SambaCapture"/>, <see cref="HandBuiltResponses"/>), plus a TRANSFORM message.
/// </summary>
internal static class FuzzSeeds
{
    /// <summary>Keys of the TRANSFORM seed: the fuzzer decrypts mutated copies with the matching cipher.</summary>
    private static readonly byte[] TransformKey = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();

    public static IReadOnlyList<FuzzSeed> All { get; } = Build();

    private static FuzzSeed Capture(string name, string hex, Action<byte[]> consume) => new(name, SambaCapture.Bytes(hex), consume);

    private static IReadOnlyList<FuzzSeed> Build()
    {
        var seeds = new List<FuzzSeed>
        {
            Capture("negotiate-3.1.1", SambaCapture.NegotiateResponse311Hex, m =>
            {
                var r = NegotiateResponse.Parse(m);
                if (r.SecurityBuffer.Length > 0)
                {
                    SpnegoTokens.DecodeNegTokenInitMechs(r.SecurityBuffer);
                }
            }),
            Capture("session-setup-more-processing", SambaCapture.SessionSetupMoreProcessingHex, m =>
            {
                var r = SessionSetupResponse.Parse(m);
                var token = SpnegoTokens.DecodeNegTokenResp(r.SecurityBuffer);
                if (token.ResponseToken is { } ntlm)
                {
                    NtlmMessages.ParseChallenge(ntlm);
                }
            }),
            Capture("session-setup-final", SambaCapture.SessionSetupGuestHex, m =>
            {
                var r = SessionSetupResponse.Parse(m);
                if (r.SecurityBuffer.Length > 0)
                {
                    SpnegoTokens.DecodeNegTokenResp(r.SecurityBuffer);
                }
            }),
            Capture("tree-connect", SambaCapture.TreeConnectResponseHex, m => TreeConnectResponse.Parse(m)),
            Capture("ioctl-dfs-referral", SambaCapture.DfsReferralLink2Hex, m =>
            {
                var r = IoctlResponse.Parse(m);
                var referral = SmbLayer.Protocol.Dfs.DfsReferral.ParseResponse(m.AsSpan()[r.OutputRange]);
                // What the client then does with it: cache it for the path it asked about (or refuse it, typed).
                new SmbLayer.Dfs.DfsReferralCache().Add(@"\127.0.0.1\dfsroot\link2", referral, "127.0.0.1", 445);
            }),
            Capture("ioctl-srvsvc-bind-ack", SambaCapture.SrvsvcBindAckHex, m =>
            {
                var r = IoctlResponse.Parse(m);
                SmbLayer.Protocol.Rpc.DceRpc.CheckBindAck(m.AsSpan()[r.OutputRange], 1, "srvsvc bind");
            }),
            Capture("ioctl-srvsvc-share-enum", SambaCapture.SrvsvcShareEnumHex, m =>
            {
                var r = IoctlResponse.Parse(m);
                var answer = new SmbLayer.Protocol.Rpc.DceRpc.ResponseAssembler(2, 1 << 20, "NetrShareEnum");
                answer.Add(m.AsSpan()[r.OutputRange]);
                if (answer.Complete)
                {
                    SmbLayer.Protocol.Rpc.Srvsvc.DecodeShareEnum(answer.Stub);
                }
            }),
            Capture("tree-disconnect", SambaCapture.TreeDisconnectResponseHex, m => TreeDisconnectResponse.Parse(m)),
            Capture("create", SambaCapture.CreateResponseRootHex, m => CreateResponse.Parse(m)),
            new("create-with-contexts", HandBuiltResponses.CreateWithContexts(), m => CreateResponse.Parse(m)),
            Capture("query-directory", SambaCapture.QueryDirectoryIdBothHex, m =>
            {
                var r = QueryDirectoryResponse.Parse(m);
                DirectoryEntryParser.Parse(m.AsSpan(r.OutputBufferOffset, r.OutputBufferLength), FileInformationClass.FileIdBothDirectoryInformation);
            }),
            Capture("error-no-more-files", SambaCapture.ErrorNoMoreFilesHex, m => Smb2ErrorResponse.Parse(m)),
            new("error-with-context", HandBuiltResponses.ErrorWithContext(), m => Smb2ErrorResponse.Parse(m)),
            Capture("close", SambaCapture.CloseResponseHex, m => CloseResponse.Parse(m)),
            Capture("query-info-fs-size", SambaCapture.QueryInfoFsSizeHex, m =>
            {
                var r = QueryInfoResponse.Parse(m);
                FileFsSizeInformation.Parse(m.AsSpan(r.OutputBufferOffset, r.OutputBufferLength));
            }),
            Capture("query-info-file-all", SambaCapture.QueryInfoFileAllHex, m =>
            {
                var r = QueryInfoResponse.Parse(m);
                FileAllInformation.Parse(m.AsSpan(r.OutputBufferOffset, r.OutputBufferLength));
            }),
            Capture("read", SambaCapture.ReadResponseHex, m =>
            {
                var r = ReadResponse.Parse(m);
                _ = m.AsSpan(r.DataOffset, r.DataLength).ToArray();
            }),
            new("write", HandBuiltResponses.Write(), m => WriteResponse.Parse(m)),
            new("ioctl-validate-negotiate", HandBuiltResponses.IoctlValidateNegotiate(), m =>
            {
                var r = IoctlResponse.Parse(m);
                ValidateNegotiateInfoCodec.ParseResponse(m.AsSpan(r.OutputRange));
            }),
            new("set-info", HandBuiltResponses.SetInfo(), m => SetInfoResponse.Parse(m)),
            new("echo", HandBuiltResponses.FourByte(Smb2Command.Echo), m => EchoResponse.Parse(m)),
            new("logoff", HandBuiltResponses.FourByte(Smb2Command.Logoff), m => LogoffResponse.Parse(m)),
            new("flush", HandBuiltResponses.FourByte(Smb2Command.Flush), m => FlushResponse.Parse(m)),
            new("oplock-break", HandBuiltResponses.OplockBreakNotification(), m => OplockBreakMessage.Parse(m)),
            new("lease-break", HandBuiltResponses.LeaseBreakNotification(), m => OplockBreakMessage.Parse(m)),
            new("lease-break-ack", HandBuiltResponses.LeaseBreakResponse(), m => OplockBreakMessage.Parse(m)),
        };
        seeds.Add(EncryptedSeed());
        return seeds;
    }

    /// <summary>An encrypted READ response: mutations must fail authentication or the header checks, never anything else.</summary>
    private static FuzzSeed EncryptedSeed()
    {
        var plain = SambaCapture.Bytes(SambaCapture.ReadResponseHex);
        using var server = new Smb3Cipher(CipherId.Aes128Gcm, TransformKey, TransformKey);
        var message = new byte[Smb3Cipher.Overhead + plain.Length];
        server.Encrypt(0x11, plain, message);
        var client = new Smb3Cipher(CipherId.Aes128Gcm, TransformKey, TransformKey);
        return new FuzzSeed("transform-read", message, m =>
        {
            var header = Smb2TransformHeader.ReadFrom(m);
            var length = m.Length - Smb2TransformHeader.Size;
            if (header.OriginalMessageSize != (uint)length)
            {
                throw new SmbProtocolException("size mismatch");
            }
            var output = new byte[length];
            lock (client)
            {
                client.Decrypt(m, output);
            }
            ReadResponse.Parse(output);
        });
    }

    /// <summary>The transport's own look at a message: framing and classification, as the reader loop does.</summary>
    public static void Classify(byte[] message)
    {
        if (Smb2TransformHeader.IsTransform(message))
        {
            Smb2TransformHeader.ReadFrom(message);
            return;
        }
        var family = Smb2MessageFamily.Instance;
        if (message.Length < family.MinimumMessageSize)
        {
            throw new SmbProtocolException("short");
        }
        var offset = 0;
        var guard = 0;
        while (offset < message.Length && guard++ < 1000)
        {
            var length = family.FirstMessageLength(message.AsSpan(offset));
            family.Classify(message.AsSpan(offset, length));
            offset += length;
        }
    }
}
