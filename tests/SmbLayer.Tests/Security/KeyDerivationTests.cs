using System.Security.Cryptography;
using SmbLayer.Protocol;
using SmbLayer.Security;

namespace SmbLayer.Tests.Security;

/// <summary>
/// Vectors from Microsoft's Open Specifications blog "SMB 2 and SMB 3 security in Windows 10: the anatomy of
/// signing and cryptographic keys", Appendix "Key derivation examples" (first and second channel).
/// </summary>
public class KeyDerivationTests
{
    private const string Smb311PreauthHash =
        "0DD13628CC3ED218EF9DF9772D436D0887AB9814BFAE63A80AA845F36909DB79" +
        "28622DDDAD522D9751640A459762C5A9D6BB084CBB3CE6BDADEF5D5BCE3C6C01";

    [Fact]
    public void Kdf_Smb30BlogVector_AllKeysMatch()
    {
        using var keys = Smb3KeyDerivation.Derive(Hex.Bytes("7CD451825D0450D235424E44BA6E78CC"), SmbDialect.Smb300, default);
        Assert.Equal("0B7E9C5CAC36C0F6EA9AB275298CEDCE", Hex.Of(keys.SigningKey));
        Assert.Equal("FAD27796665B313EBB578F388632B4F7", Hex.Of(keys.EncryptionKey));
        Assert.Equal("B0F0427F7CEB416D1D9DCC0CD4F99447", Hex.Of(keys.DecryptionKey));
        Assert.Equal("BB23A4575AA26C721AF525AF15A87B4F", Hex.Of(keys.ApplicationKey));
    }

    [Fact]
    public void Kdf_Smb30SecondChannelBlogVector_SigningKeyMatches()
    {
        using var keys = Smb3KeyDerivation.Derive(Hex.Bytes("4E01A2B313BCF660CC250BEF021AEDE6"), SmbDialect.Smb302, default);
        Assert.Equal("BA1A17DBBFEC349BCA105563D598952F", Hex.Of(keys.SigningKey));
    }

    [Fact]
    public void Kdf_Smb311BlogVector_AllKeysMatch()
    {
        using var keys = Smb3KeyDerivation.Derive(
            Hex.Bytes("270E1BA896585EEB7AF3472D3B4C75A7"), SmbDialect.Smb311, Hex.Bytes(Smb311PreauthHash));
        Assert.Equal("73FE7A9A77BEF0BDE49C650D8CCB5F76", Hex.Of(keys.SigningKey));
        Assert.Equal("629BCBC54422A0F572B97F45989B6073", Hex.Of(keys.EncryptionKey));
        Assert.Equal("E2AF0DCEFAC68DA71A0DFBD0D1350D74", Hex.Of(keys.DecryptionKey));
        Assert.Equal("6D7AD7954E9EC61E907B4D473DC178FF", Hex.Of(keys.ApplicationKey));
    }

    [Fact]
    public void Kdf_Smb311SecondChannelBlogVector_SigningKeyMatches()
    {
        var preauth = Hex.Bytes(
            "EA3BF912B11CBFEC5B1889E8209614218687F82FA5294521AD3063425E49E88A" +
            "10BD022124CE25123BC9111F52D9566BA88BF46344E6063DC5E3FF0389026F6C");
        using var keys = Smb3KeyDerivation.Derive(Hex.Bytes("84B9DBB730116A8FA6E9889555C265F9"), SmbDialect.Smb311, preauth);
        Assert.Equal("C962BCA1A9DD1697B030644199705431", Hex.Of(keys.SigningKey));
    }

    [Fact]
    public void Kdf_L256_MatchesStraightHmacOfConcatenatedInput()
    {
        var key = Hex.Bytes("270E1BA896585EEB7AF3472D3B4C75A7");
        var preauth = Hex.Bytes(Smb311PreauthHash);
        using var keys = Smb3KeyDerivation.Derive(key, SmbDialect.Smb311, preauth, cipherKeyLength: 32);
        var label = "SMBC2SCipherKey\0"u8.ToArray();
        // Independent: L = 256 bits is exactly one HMAC-SHA256 block, counter 1, [L]32 = 00 00 01 00.
        var expected = HMACSHA256.HashData(key, (byte[])[0, 0, 0, 1, .. label, 0, .. preauth, 0, 0, 1, 0]);
        Assert.Equal(Hex.Of(expected), Hex.Of(keys.EncryptionKey));
        // Signing stays 128-bit.
        Assert.Equal("73FE7A9A77BEF0BDE49C650D8CCB5F76", Hex.Of(keys.SigningKey));
    }

    [Fact]
    public void Kdf_L256_UsesFullSessionKeyWhenGiven()
    {
        var full = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
        using var keys = Smb3KeyDerivation.Derive(full, SmbDialect.Smb300, default, 32, full);
        var expected = new byte[32];
        Sp800108Kdf.DeriveKey(full, "SMB2AESCCM\0"u8, "ServerOut\0"u8, expected);
        Assert.Equal(expected, keys.DecryptionKey);
        var signing = new byte[16];
        Sp800108Kdf.DeriveKey(full.AsSpan(0, 16), "SMB2AESCMAC\0"u8, "SmbSign\0"u8, signing);
        Assert.Equal(signing, keys.SigningKey);
    }

    [Fact]
    public void Kdf_Smb2x_SigningKeyIsSessionKey()
    {
        var key = Hex.Bytes("000102030405060708090A0B0C0D0E0F");
        using var keys = Smb3KeyDerivation.Derive(key, SmbDialect.Smb210, default);
        Assert.Equal(key, keys.SigningKey);
        Assert.Empty(keys.EncryptionKey);
    }

    [Fact]
    public void Kdf_Smb311WithoutPreauthHash_Throws()
    {
        Assert.Throws<ArgumentException>(() => Smb3KeyDerivation.Derive(new byte[16], SmbDialect.Smb311, new byte[10]));
    }

    [Fact]
    public void Preauth_BlogNegotiateExchange_ChainMatches()
    {
        using var hash = new PreauthIntegrityHash();
        hash.Update(Hex.Bytes(
            "FE534D4240000100000000000000800000000000000000000100000000000000FFFE000000000000" +
            "00000000000000000000000000000000000000000000000024000500000000003F000000ECD86F32" +
            "6276024F9F7752B89BB33F3A70000000020000000202100200030203110300000100260000000000" +
            "010020000100FA49E6578F1F3A9F4CD3E9CC14A67AA884B3D05844E0E5A118225C15887F32FF0000" +
            "0200060000000000020002000100"));
        Assert.Equal(
            "DD94EFC5321BB618A2E208BA8920D2F422992526947A409B5037DE1E0FE8C736" +
            "2B8C47122594CDE0CE26AA9DFC8BCDBDE0621957672623351A7540F1E54A0426", Hex.Of(hash.Value));
        var beforeResponse = hash.Clone();
        hash.Update(Hex.Bytes(
            "FE534D4240000100000000000000010001000000000000000100000000000000FFFE000000000000" +
            "000000000000000000000000000000000000000000000000410001001103020039CBCAF329714942" +
            "BDCE5D60F09AB3FB2F000000000080000000800000008000D8DAE5ADCBAED00109094AB095AED001" +
            "80004001C00100006082013C06062B0601050502A08201303082012CA01A3018060A2B0601040182" +
            "3702021E060A2B06010401823702020AA282010C048201084E45474F455854530100000000000000" +
            "60000000700000007C7CC0FD06D6362D02DDE1CF343BFE292900F49750B4AA97934D9C4296B26E51" +
            "FD370471B235E15A50DAE15BD5489C87000000000000000060000000010000000000000000000000" +
            "5C33530DEAF90D4DB2EC4AE3786EC3084E45474F4558545303000000010000004000000098000000" +
            "7C7CC0FD06D6362D02DDE1CF343BFE295C33530DEAF90D4DB2EC4AE3786EC3084000000058000000" +
            "3056A05430523027802530233121301F06035504031318546F6B656E205369676E696E6720507562" +
            "6C6963204B65793027802530233121301F06035504031318546F6B656E205369676E696E67205075" +
            "626C6963204B6579010026000000000001002000010060A3C3B95C3C7CCD51EC536648D9B3AC74C4" +
            "83CA5B65385A251117BEB30712E50000020004000000000001000200"));
        Assert.Equal(
            "324BFA92A4F3A190E466EBEA08D9C110DC88BFED758D9846ECC6F541CC1D02AE" +
            "3C94A79F36011E997E13F841B91B50957AD07B19C8E2539C0B23FDAE09D2C513", Hex.Of(hash.Value));
        // The clone did not move with the original.
        Assert.StartsWith("DD94EFC5", Hex.Of(beforeResponse.Value));
    }

    [Fact]
    public void Preauth_Update_IsSha512OfPreviousAndMessage()
    {
        using var hash = new PreauthIntegrityHash();
        var msg = "hello"u8.ToArray();
        hash.Update(msg);
        Assert.Equal(SHA512.HashData([.. new byte[64], .. msg]), hash.Value.ToArray());
    }
}
