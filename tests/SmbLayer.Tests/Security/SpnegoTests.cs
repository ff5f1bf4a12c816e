using System.Security.Cryptography;
using System.Text;
using SmbLayer.Security;

namespace SmbLayer.Tests.Security;

/// <summary>
/// SPNEGO/NTLM tests. The "Blog" data is the captured SMB 3.1.1 exchange in Microsoft's Open Specifications
/// blog "SMB 2 and SMB 3 security in Windows 10: the anatomy of signing and cryptographic keys"
/// (user administrator, domain SUT311, password Password01!, ExportedSessionKey 270E1BA8...).
/// </summary>
public class SpnegoTests
{
    private const string BlogNtlmNegotiate = "4E544C4D5353500001000000978208E200000000000000000000000000000000060380250000000F";
    private const string BlogClientInitToken =
        "604806062B0601050502A03E303CA00E300C060A2B06010401823702020AA22A0428" + BlogNtlmNegotiate;

    private const string BlogNtlmChallenge =
        "4E544C4D53535000020000000C000C003800000015828AE20D1D8BA31179D008000000000000000050005000440000000A0092270000000F" +
        "53005500540033003100310002000C0053005500540033003100310001000C0053005500540033003100310004000C0053005500540033" +
        "003100310003000C0053005500540033003100310007000800A1A1F5ADCBAED00100000000";
    private const string BlogServerChallengeToken =
        "A181B03081ADA0030A0101A10C060A2B06010401823702020AA281970481944E544C4D53535000020000000C000C003800000015828AE2" +
        "0D1D8BA31179D008000000000000000050005000440000000A0092270000000F53005500540033003100310002000C00530055005400" +
        "33003100310001000C0053005500540033003100310004000C0053005500540033003100310003000C0053005500540033003100310007" +
        "000800A1A1F5ADCBAED00100000000";

    // The second SESSION_SETUP request as captured in the blog (SMB2 header, body, SPNEGO NegTokenResp).
    private const string BlogSessionSetupRequest2 =
        "FE534D4240000100000000000100800000000000000000000300000000000000FFFE000000000000" +
        "1900000000100000000000000000000000000000000000001900000101000000000000005800CF01" +
        "0000000000000000A18201CB308201C7A0030A0101A28201AA048201A64E544C4D53535000030000" +
        "001800180090000000EE00EE00A80000000C000C00580000001A001A0064000000120012007E0000" +
        "001000100096010000158288E2060380250000000FECAC77A5F385A8BF9C38C706EEEDDCD3530055" +
        "005400330031003100610064006D0069006E006900730074007200610074006F0072004400520049" +
        "0056004500520033003100310000000000000000000000000000000000000000000000000063078E" +
        "B639FE03E20A231C3AE3BF23080101000000000000A1A1F5ADCBAED001BC4AD05F223CC90F000000" +
        "0002000C0053005500540033003100310001000C0053005500540033003100310004000C00530055" +
        "00540033003100310003000C0053005500540033003100310007000800A1A1F5ADCBAED001060004" +
        "00020000000800300030000000000000000000000000300000B61FEFCAA857EA57BF1EDCEBF8974B" +
        "8E0EBA5A6DFD9D07A31D11B548F8C9D0CC0A00100000000000000000000000000000000000090016" +
        "0063006900660073002F005300550054003300310031000000000000000000000000003B9BDFF38F" +
        "5EE8F9663F11A0F4C03A78A31204100100000063775A9A5FD97F0600000000";

    // The NTLM AUTHENTICATE_MESSAGE (0x1A6 bytes) inside it.
    private static byte[] BlogNtlmAuthenticate()
    {
        var packet = Hex.Bytes(BlogSessionSetupRequest2);
        var at = Hex.Of(packet).IndexOf("4E544C4D53535000030000", StringComparison.Ordinal) / 2;
        return packet.AsSpan(at, 0x1A6).ToArray();
    }

    private const string BlogClientMechListMic = "0100000063775A9A5FD97F0600000000";
    private const string BlogServerFinalToken = "A11B3019A0030A0100A3120410010000003B453CDC3524164200000000";
    private const string BlogExportedSessionKey = "270E1BA896585EEB7AF3472D3B4C75A7";
    private const string BlogClientChallenge = "BC4AD05F223CC90F";

    private const string BlogNegotiateResponseToken =
        "6082013C06062B0601050502A08201303082012CA01A3018060A2B06010401823702021E060A2B06010401823702020A" +
        "A282010C048201084E45474F455854530100000000000000" +
        "60000000700000007C7CC0FD06D6362D02DDE1CF343BFE292900F49750B4AA97934D9C4296B26E51" +
        "FD370471B235E15A50DAE15BD5489C87000000000000000060000000010000000000000000000000" +
        "5C33530DEAF90D4DB2EC4AE3786EC3084E45474F4558545303000000010000004000000098000000" +
        "7C7CC0FD06D6362D02DDE1CF343BFE295C33530DEAF90D4DB2EC4AE3786EC3084000000058000000" +
        "3056A05430523027802530233121301F06035504031318546F6B656E205369676E696E6720507562" +
        "6C6963204B65793027802530233121301F06035504031318546F6B656E205369676E696E67205075" +
        "626C6963204B6579";

    [Fact]
    public void NegTokenInit_BlogNegotiate_EncodesIdenticallyToWindows()
    {
        var mechTypes = SpnegoTokens.EncodeMechTypeList(SpnegoTokens.NtlmsspOid);
        Assert.Equal("300C060A2B06010401823702020A", Hex.Of(mechTypes));
        var token = SpnegoTokens.EncodeInitialNegTokenInit(mechTypes, Hex.Bytes(BlogNtlmNegotiate));
        Assert.Equal(BlogClientInitToken, Hex.Of(token));
    }

    [Fact]
    public void NegTokenInit2_BlogNegotiateResponse_ListsNegoExAndNtlmssp()
    {
        var mechs = SpnegoTokens.DecodeNegTokenInitMechs(Hex.Bytes(BlogNegotiateResponseToken));
        Assert.Equal(["1.3.6.1.4.1.311.2.2.30", SpnegoTokens.NtlmsspOid], mechs);
    }

    [Fact]
    public void NegTokenResp_BlogChallengeToken_Decodes()
    {
        var resp = SpnegoTokens.DecodeNegTokenResp(Hex.Bytes(BlogServerChallengeToken));
        Assert.Equal(SpnegoNegState.AcceptIncomplete, resp.NegState);
        Assert.Equal(SpnegoTokens.NtlmsspOid, resp.SupportedMech);
        Assert.Equal(BlogNtlmChallenge, Hex.Of(resp.ResponseToken));
        Assert.Null(resp.MechListMic);
    }

    [Fact]
    public void NegTokenResp_EncodeThenDecode_RoundTrips()
    {
        var token = SpnegoTokens.EncodeNegTokenResp(SpnegoNegState.RequestMic, SpnegoTokens.NtlmsspOid, [1, 2, 3], [9, 9]);
        var resp = SpnegoTokens.DecodeNegTokenResp(token);
        Assert.Equal(SpnegoNegState.RequestMic, resp.NegState);
        Assert.Equal(SpnegoTokens.NtlmsspOid, resp.SupportedMech);
        Assert.Equal([1, 2, 3], resp.ResponseToken);
        Assert.Equal([9, 9], resp.MechListMic);
    }

    [Fact]
    public void NtlmCrypto_BlogAuthenticate_ProofKeysAndMicMatch()
    {
        var auth = BlogNtlmAuthenticate();
        var nt = NtlmTests.Field(auth, 20);
        var responseKey = NtlmCrypto.NtowfV2(NtlmCrypto.NtHash("Password01!"), "administrator", "SUT311");
        Assert.Equal("AEE3959B44A815F1EB28C9511B4F533B", Hex.Of(responseKey));
        var proof = NtlmCrypto.NtProofStr(responseKey, Hex.Bytes("0D1D8BA31179D008"), nt.AsSpan(16));
        Assert.Equal("63078EB639FE03E20A231C3AE3BF2308", Hex.Of(proof));
        var keyExchangeKey = NtlmCrypto.SessionBaseKey(responseKey, proof);
        Assert.Equal("B4CF22566926B1C069ACD80E4D73C814", Hex.Of(keyExchangeKey));
        var exported = Rc4.Transform(keyExchangeKey, NtlmTests.Field(auth, 52));
        Assert.Equal(BlogExportedSessionKey, Hex.Of(exported));

        var zeroMic = (byte[])auth.Clone();
        Array.Clear(zeroMic, NtlmMessages.AuOffMic, 16);
        var mic = NtlmCrypto.Mic(exported, Hex.Bytes(BlogNtlmNegotiate), Hex.Bytes(BlogNtlmChallenge), zeroMic);
        Assert.Equal("ECAC77A5F385A8BF9C38C706EEEDDCD3", Hex.Of(mic));

        Assert.Equal("D43F36C44BCE0630250A09EA0C2E8C2C", Hex.Of(NtlmCrypto.SigningKey(exported, true)));
        Assert.Equal("E1BD8B416B0B709D295E12F2CF18E6C5", Hex.Of(NtlmCrypto.SigningKey(exported, false)));
        var flags = (NtlmNegotiateFlags)0xE2888215;
        Assert.Equal("31E5557D99BE13F1B2665C7C7C52CE70", Hex.Of(NtlmCrypto.SealingKey(exported, flags, true)));
        Assert.Equal("B0F5A0B32C81FF34A878E1409B3B0EF2", Hex.Of(NtlmCrypto.SealingKey(exported, flags, false)));
    }

    [Fact]
    public void Authenticator_BlogExchange_MechListMicsMatchWindowsAndServer()
    {
        using var auth = BlogAuthenticator();
        var init = auth.Initiate(Hex.Bytes(BlogNegotiateResponseToken));
        Assert.Equal(SpnegoTokens.EncodeInitialNegTokenInit(SpnegoTokens.EncodeMechTypeList(SpnegoTokens.NtlmsspOid), NtlmMessages.BuildNegotiate(NtlmClient.RequestedFlags)), init);

        var second = auth.Continue(Hex.Bytes(BlogServerChallengeToken));
        var resp = SpnegoTokens.DecodeNegTokenResp(second);
        Assert.Null(resp.NegState);
        Assert.Null(resp.SupportedMech);
        Assert.Equal(BlogClientMechListMic, Hex.Of(resp.MechListMic));
        Assert.Equal(BlogExportedSessionKey, Hex.Of(auth.SessionKey));
        Assert.False(auth.IsAnonymous);

        // Our AUTHENTICATE carries the MIC and the same encrypted session key as Windows sent.
        var ntlmAuth = resp.ResponseToken!;
        Assert.Equal(16, NtlmTests.Field(ntlmAuth, 52).Length);
        Assert.Equal("administrator", Encoding.Unicode.GetString(NtlmTests.Field(ntlmAuth, 36)));
        Assert.NotEqual(new byte[16], ntlmAuth.AsSpan(72, 16).ToArray());

        auth.Complete(Hex.Bytes(BlogServerFinalToken));
    }

    [Fact]
    public void Authenticator_BlogChallenge_PassesServerSideNtlmChecks()
    {
        using var auth = BlogAuthenticator();
        var init = SpnegoTokens.DecodeNegTokenInitMechs(auth.Initiate([]));
        Assert.Equal([SpnegoTokens.NtlmsspOid], init);
        var ntlmAuth = SpnegoTokens.DecodeNegTokenResp(auth.Continue(Hex.Bytes(BlogServerChallengeToken))).ResponseToken!;

        // What a server does (MS-NLMP 3.2.5.1.2): recompute NTProofStr, recover the session key, check the MIC.
        var responseKey = NtlmCrypto.NtowfV2(NtlmCrypto.NtHash("Password01!"), "administrator", "SUT311");
        var nt = NtlmTests.Field(ntlmAuth, 20);
        var proof = NtlmCrypto.NtProofStr(responseKey, Hex.Bytes("0D1D8BA31179D008"), nt.AsSpan(16));
        Assert.Equal(Hex.Of(nt.AsSpan(0, 16)), Hex.Of(proof));
        var exported = Rc4.Transform(NtlmCrypto.SessionBaseKey(responseKey, proof), NtlmTests.Field(ntlmAuth, 52));
        Assert.Equal(BlogExportedSessionKey, Hex.Of(exported));
        var zeroMic = (byte[])ntlmAuth.Clone();
        Array.Clear(zeroMic, NtlmMessages.AuOffMic, 16);
        var negotiate = NtlmMessages.BuildNegotiate(NtlmClient.RequestedFlags);
        var mic = NtlmCrypto.Mic(exported, negotiate, Hex.Bytes(BlogNtlmChallenge), zeroMic);
        Assert.Equal(Hex.Of(mic), Hex.Of(ntlmAuth.AsSpan(NtlmMessages.AuOffMic, 16)));
        // MsvAvFlags carries the MIC bit and the server timestamp is reused.
        Assert.Contains("0600040002000000", Hex.Of(nt));
        Assert.Equal("A1A1F5ADCBAED001", Hex.Of(nt.AsSpan(24, 8)));
    }

    [Fact]
    public void Authenticator_TamperedServerMechListMic_ThrowsSecurityException()
    {
        using var auth = BlogAuthenticator();
        auth.Initiate([]);
        auth.Continue(Hex.Bytes(BlogServerChallengeToken));
        var final = Hex.Bytes(BlogServerFinalToken);
        final[^6] ^= 0x01;
        Assert.Throws<SmbSecurityException>(() => auth.Complete(final));
    }

    [Theory]
    [InlineData(1)] // accept-incomplete
    [InlineData(2)] // reject
    public void Authenticator_FinalNegStateNotCompleted_ThrowsSecurityException(int state)
    {
        using var auth = BlogAuthenticator();
        auth.Initiate([]);
        auth.Continue(Hex.Bytes(BlogServerChallengeToken));
        var final = SpnegoTokens.EncodeNegTokenResp((SpnegoNegState)state, null, [], []);
        Assert.Throws<SmbSecurityException>(() => auth.Complete(final));
    }

    [Fact]
    public void Authenticator_RejectOnFirstLeg_ThrowsSecurityException()
    {
        using var auth = BlogAuthenticator();
        auth.Initiate([]);
        Assert.Throws<SmbSecurityException>(() => auth.Continue(SpnegoTokens.EncodeNegTokenResp(SpnegoNegState.Reject, null, [], [])));
    }

    [Fact]
    public void Authenticator_ServerOffersNoNtlmssp_ThrowsSecurityException()
    {
        var krbOnly = SpnegoTokens.EncodeInitialNegTokenInit(SpnegoTokens.EncodeMechTypeList("1.2.840.113554.1.2.2"), []);
        using var auth = BlogAuthenticator();
        Assert.Throws<SmbSecurityException>(() => auth.Initiate(krbOnly));
    }

    [Fact]
    public void Authenticator_CompleteBeforeContinue_ThrowsProtocolException()
    {
        using var auth = BlogAuthenticator();
        auth.Initiate([]);
        Assert.Throws<SmbProtocolException>(() => auth.Complete(Hex.Bytes(BlogServerFinalToken)));
    }

    [Fact]
    public void Authenticator_Anonymous_NoMicEmptyKey()
    {
        using var auth = SpnegoNtlmAuthenticator.CreateAnonymous("WS");
        auth.Initiate([]);
        var token = auth.Continue(Hex.Bytes(BlogServerChallengeToken));
        var resp = SpnegoTokens.DecodeNegTokenResp(token);
        Assert.Null(resp.MechListMic);
        Assert.True(auth.IsAnonymous);
        Assert.True(auth.SessionKey.IsEmpty);
        Assert.Empty(NtlmTests.Field(resp.ResponseToken!, 20));
        auth.Complete(SpnegoTokens.EncodeNegTokenResp(SpnegoNegState.AcceptCompleted, null, [], []));
    }

    [Fact]
    public void Authenticator_ToStringAndErrors_NeverShowPassword()
    {
        using var auth = new SpnegoNtlmAuthenticator("bob", "CORP", "Hunter2-Secret", "WS");
        Assert.DoesNotContain("Hunter2", auth.ToString());
        auth.Initiate([]);
        var ex = Assert.ThrowsAny<SmbException>(() => auth.Continue([0xA1, 0x03, 0x30, 0x01, 0x00]));
        Assert.DoesNotContain("Hunter2", ex.ToString());
    }

    [Fact]
    public void NegTokenResp_EveryTruncation_ThrowsProtocolException()
    {
        var token = Hex.Bytes(BlogServerChallengeToken);
        for (var n = 0; n < token.Length; n++)
        {
            var truncated = token.AsSpan(0, n).ToArray();
            Assert.Throws<SmbProtocolException>(() => SpnegoTokens.DecodeNegTokenResp(truncated));
        }
    }

    [Theory]
    [InlineData("A0023000")] // NegTokenInit where a NegTokenResp is expected
    [InlineData("A1023100")] // SET instead of SEQUENCE
    [InlineData("A10A3008A1030A0101A0030A0101")] // fields out of order
    [InlineData("A10A3008A0030A0101A0030A0101")] // repeated field
    [InlineData("A1073005A0030A0107")] // negState 7 undefined
    [InlineData("A1073005A4030A0101")] // unknown field [4]
    [InlineData("A1073005A0030A010100")] // trailing byte
    [InlineData("A1083006A0040A010100")] // trailing data inside [0]
    [InlineData("A1853005A0030A0101")] // bad long-form length
    [InlineData("")]
    public void NegTokenResp_Malformed_ThrowsProtocolException(string hex)
    {
        Assert.Throws<SmbProtocolException>(() => SpnegoTokens.DecodeNegTokenResp(Hex.Bytes(hex)));
    }

    [Fact]
    public void NegTokenResp_RandomGarbage_OnlyTypedExceptions()
    {
        var rng = new Random(7);
        var valid = Hex.Bytes(BlogServerChallengeToken);
        for (var i = 0; i < 3000; i++)
        {
            var data = (byte[])valid.Clone();
            for (var k = 0; k < 1 + i % 4; k++)
            {
                data[rng.Next(data.Length)] = (byte)rng.Next(256);
            }
            try
            {
                var resp = SpnegoTokens.DecodeNegTokenResp(data);
                if (resp.ResponseToken is { } challenge)
                {
                    NtlmMessages.ParseChallenge(challenge);
                }
            }
            catch (SmbProtocolException)
            {
            }
        }
    }

    [Fact]
    public void NegTokenInit_Malformed_ThrowsProtocolException()
    {
        var token = Hex.Bytes(BlogNegotiateResponseToken);
        for (var n = 0; n < token.Length; n += 7)
        {
            var truncated = token.AsSpan(0, n).ToArray();
            Assert.Throws<SmbProtocolException>(() => SpnegoTokens.DecodeNegTokenInitMechs(truncated));
        }
        var wrongOid = (byte[])token.Clone();
        wrongOid[8] ^= 0x01; // inside the SPNEGO OID
        Assert.Throws<SmbProtocolException>(() => SpnegoTokens.DecodeNegTokenInitMechs(wrongOid));
    }

    private static SpnegoNtlmAuthenticator BlogAuthenticator()
    {
        var randoms = new Queue<byte[]>([Hex.Bytes(BlogClientChallenge), Hex.Bytes(BlogExportedSessionKey)]);
        var ntlm = new NtlmClient("administrator", "SUT311", "Password01!", "DRIVER311",
            fill => randoms.Dequeue().CopyTo(fill), () => throw new InvalidOperationException("server sent a timestamp"));
        return new SpnegoNtlmAuthenticator(ntlm);
    }
}
